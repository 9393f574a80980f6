# session 11, call 1 (nvidia-h200): issue #8's MFU. Where a step's GPU time goes (profile by
# kernel kind: attention, matmul, norms/elementwise, copies, optimizer) and whether compiling each
# block (model config compile=True: norms, projections, MLP, residual adds fused by torch.compile,
# the attention core left out) raises it. pixel_base_strided.imagenet64 at micro-batch 8 and
# lm_base_longformer.enwik8 at 16k tokens, micro-batch 4, eager vs --compile, one process at a
# time. Carry: .whl.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs; mkdir -p $L; T0=$(date +%s); left() { echo $(($1 - $(date +%s) + T0)); }
B="python3 tools/bench_train.py --warmup 3 --steps 8 --zero 2 --profile-steps 2 --out $OUT/train.json"
P="--model pixel_base_strided.imagenet64 --seq-len 12288 --micro-batch 8"
M="--model lm_base_longformer.enwik8 --seq-len 16384 --micro-batch 4"
timeout -s ABRT $(left 110) $B $P --tag h200x1_eager > $L/pix_eager.log 2>&1
timeout -s ABRT $(left 260) $B $P --compile --tag h200x1_compile > $L/pix_compile.log 2>&1
timeout -s ABRT $(left 430) $B $M --compile --tag h200x1_compile > $L/lm_compile.log 2>&1
timeout -s ABRT $(left 570) $B $M --tag h200x1_eager > $L/lm_eager.log 2>&1
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | tail -n 40; done > $OUT/logs.txt 2>&1
python3 -c "
import json; rows=json.load(open('$OUT/train.json'))
for r in rows:
    p = r.get('profile') or {}
    print(r['model'][:14], r.get('tag'), r.get('step_ms'), r.get('mfu'), r.get('loss'), r.get('warmup_s'), r.get('error', '')[:200])
    print('   ', p.get('wall_ms_per_step'), p.get('gpu_busy_ms_per_step'), p.get('gpu_ms_by_kind'))
    for k in (p.get('top_gpu_kernels') or [])[:6]: print('      ', k)"
