# session 14, call 3 (nvidia-h200): issue #8's MFU at the largest micro-batches that fit, with
# what calls 1 and 2 showed wins: attention inside the compiled graph (ZOO_GRAPH_ATTENTION=1; call 1:
# LM 16k x 4 71.2 -> 67.2 ms, pixel 12,288 x 8 91.3 -> 85.8 ms) and DeepSpeed's plain gradient
# hooks (call 2: pixel x 16 160.4 -> 156.7 ms). Call 2 at x16 / x8 gave MFU 0.374 / 0.351; the
# optimizer step's host time (~11 ms) is fixed per step, so twice the tokens per step should raise
# MFU. Sparse and dense at the same shapes (step speedup), one profiled step each for the sparse
# rows. Compiled ZeRO-2 bf16. Carry: .whl.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1 ZOO_GRAPH_ATTENTION=1
L=/tmp/logs; mkdir -p $L; T0=$(date +%s); left() { echo $(($1 - $(date +%s) + T0)); }
H="--ds-set zero_optimization.contiguous_gradients=false --ds-set zero_optimization.overlap_comm=false"
B="python3 tools/bench_train.py --warmup 3 --steps 10 --compile --zero 2 $H --out $OUT/train.json"
P="--model pixel_base_strided.imagenet64 --seq-len 12288 --micro-batch 32"
M="--model lm_base_longformer.enwik8 --seq-len 16384 --micro-batch 16"
timeout -s ABRT $(left 100) $B $P --profile-steps 1 --tag h200x1_compile_mb32_plain_hooks > $L/pix.log 2>&1
timeout -s ABRT $(left 250) $B $M --profile-steps 1 --tag h200x1_compile_mb16_plain_hooks > $L/lm.log 2>&1
timeout -s ABRT $(left 340) $B $P --attention dense --tag h200x1_compile_mb32_plain_hooks > $L/pix_dense.log 2>&1
timeout -s ABRT $(left 500) $B $M --attention dense --tag h200x1_compile_mb16_plain_hooks > $L/lm_dense.log 2>&1
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | tail -n 30; done > $OUT/logs.txt 2>&1
python3 -c "
import json; rows=json.load(open('$OUT/train.json'))
for r in rows:
    p = r.get('profile') or {}
    print(r['model'][:14], r.get('attention'), r.get('tag'), r.get('micro_batch'), r.get('step_ms'), r.get('mfu'), r.get('mem_peak_gib'), (r.get('error') or '')[:200])
    print('   steps', r.get('step_times_ms'))
    h = r.get('host_vs_gpu') or {}
    for k in ('forward', 'backward', 'step'): print('   ', k, h.get(k))
    print('   ', p.get('gpu_busy_ms_per_step'), p.get('gpu_ms_by_kind'), (p.get('copies') or [])[:2])"
