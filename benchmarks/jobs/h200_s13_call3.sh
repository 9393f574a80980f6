# session 13, call 3 (nvidia-h200): issue #8's MFU. Call 1's profiles show four strided aten::copy_
# per layer in CompiledFunctionBackward (4.5 ms of the LM step, 6.7 ms of the pixel step): the
# gradients crossing the graph break at the attention core, re-strided by AOT autograd. A/B in one
# run, compiled ZeRO-2 bf16: dense tensors at the boundary (new default, _DenseGrad) vs session 12's
# head-transposed views (ZOO_VIEW_BOUNDARY=1); the profile records each copy's shape and parent
# ops (copy_origins). Then the default at twice the micro-batch (the LM step is host-bound at 16k
# x 4: call 1's host time per phase exceeds the GPU's). Carry: .whl.
# (At 9b353cb the dense boundary was the default and ZOO_VIEW_BOUNDARY=1 chose the views; since, the
# views are the default again and ZOO_DENSE_BOUNDARY=1 opts in: train_h200.json rows say which ran.)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs; mkdir -p $L; T0=$(date +%s); left() { echo $(($1 - $(date +%s) + T0)); }
B="python3 tools/bench_train.py --warmup 3 --steps 10 --profile-steps 1 --compile --zero 2 --out $OUT/train.json"
P="--model pixel_base_strided.imagenet64 --seq-len 12288"
M="--model lm_base_longformer.enwik8 --seq-len 16384"
timeout -s ABRT $(left 110) $B $M --micro-batch 4 --tag h200x1_compile_dense_boundary > $L/lm_new.log 2>&1
ZOO_VIEW_BOUNDARY=1 timeout -s ABRT $(left 210) $B $M --micro-batch 4 --tag h200x1_compile_view_boundary > $L/lm_old.log 2>&1
timeout -s ABRT $(left 255) $B $P --micro-batch 8 --tag h200x1_compile_dense_boundary > $L/pix_new.log 2>&1
ZOO_VIEW_BOUNDARY=1 timeout -s ABRT $(left 300) $B $P --micro-batch 8 --tag h200x1_compile_view_boundary > $L/pix_old.log 2>&1
timeout -s ABRT $(left 400) $B $M --micro-batch 8 --tag h200x1_compile_mb8 > $L/lm_mb8.log 2>&1
timeout -s ABRT $(left 460) $B $P --micro-batch 16 --tag h200x1_compile_mb16 > $L/pix_mb16.log 2>&1
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | tail -n 30; done > $OUT/logs.txt 2>&1
python3 -c "
import json; rows=json.load(open('$OUT/train.json'))
for r in rows:
    p = r.get('profile') or {}
    print(r['model'][:14], r.get('tag'), r.get('env'), r.get('micro_batch'), r.get('step_ms'), r.get('mfu'), r.get('loss'), r.get('error', '')[:200])
    h = r.get('host_vs_gpu') or {}
    for k in ('forward', 'backward', 'step'): print('   ', k, h.get(k))
    print('   ', p.get('gpu_busy_ms_per_step'), p.get('gpu_ms_by_kind'))
    for c in (p.get('copies') or [])[:5]: print('     ', c)"
