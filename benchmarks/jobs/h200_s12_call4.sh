# session 12, call 4 (nvidia-h200): issue #8. Call 3 split a compiled step by phase: DeepSpeed's
# optimizer step takes ~35 ms of the pixel step's 113 ms on the host (its kernels: ~1 ms); the
# GPU waits. Most of it is the bf16 overflow check, a per-gradient amax/amin/isfinite loop with an
# .item() at its end (ZeRO-2's has_overflow), on top of the per-gradient norm for clipping. A/B
# side by side: bf16.check_grad_overflow=false (--ds-set) vs DeepSpeed's default, compiled, ZeRO-2
# bf16, pixel_base_strided.imagenet64 (micro-batch 8) then lm_base_longformer.enwik8 (16k x 4).
# Carry: .whl.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs; mkdir -p $L; T0=$(date +%s); left() { echo $(($1 - $(date +%s) + T0)); }
B="python3 tools/bench_train.py --warmup 3 --steps 10 --profile-steps 1 --compile --zero 2 --out $OUT/train.json"
P="--model pixel_base_strided.imagenet64 --seq-len 12288 --micro-batch 8"
M="--model lm_base_longformer.enwik8 --seq-len 16384 --micro-batch 4"
OFF="--ds-set bf16.check_grad_overflow=false"
timeout -s ABRT $(left 100) $B $P $OFF --tag h200x1_compile_no_overflow_check > $L/pix_off.log 2>&1
timeout -s ABRT $(left 200) $B $P --tag h200x1_compile_overflow_check > $L/pix_on.log 2>&1
timeout -s ABRT $(left 350) $B $M $OFF --tag h200x1_compile_no_overflow_check > $L/lm_off.log 2>&1
timeout -s ABRT $(left 500) $B $M --tag h200x1_compile_overflow_check > $L/lm_on.log 2>&1
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | tail -n 30; done > $OUT/logs.txt 2>&1
python3 -c "
import json; rows=json.load(open('$OUT/train.json'))
for r in rows:
    p = r.get('profile') or {}
    print(r['model'][:14], r.get('tag'), r.get('ds_set'), r.get('step_ms'), r.get('mfu'), r.get('loss'), r.get('error', '')[:200])
    h = r.get('host_vs_gpu') or {}
    for k in ('forward', 'backward', 'step'): print('   ', k, h.get(k))
    print('   ', h.get('sync_points'), h.get('error'))
    print('   ', p.get('gpu_busy_ms_per_step'), p.get('gpu_ms_by_kind'))"
