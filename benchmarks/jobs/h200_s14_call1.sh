# session 14, call 1 (nvidia-h200), prepared in session 13 (not run yet): issue #8's MFU, the A/Bs
# session 13 call 3 ran out of time for, each with a deadline that fits a compiling first step
# (LM 65-85 s, pixel 20-25 s). Compiled ZeRO-2 bf16, one process after the other:
# (1) ZOO_DENSE_BOUNDARY=1 (dense tensors at the graph break, _DenseGrad: no AOT re-strides of the
#     crossing gradients) vs the default views;
# (2) DeepSpeed's per-parameter gradient hooks with zero_optimization.contiguous_gradients and
#     overlap_comm off (one GPU: nothing to overlap; CPU measurement, 147 parameters: backward
#     20.9 -> 16.0 ms); the LM step is host-bound (host_vs_gpu, session 13).
# Models: lm_base_longformer.enwik8 16k x 4, pixel_base_strided.imagenet64 12,288 x 8. Carry: .whl.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs; mkdir -p $L; T0=$(date +%s); left() { echo $(($1 - $(date +%s) + T0)); }
B="python3 tools/bench_train.py --warmup 3 --steps 10 --profile-steps 1 --compile --zero 2 --out $OUT/train.json"
P="--model pixel_base_strided.imagenet64 --seq-len 12288 --micro-batch 8"
M="--model lm_base_longformer.enwik8 --seq-len 16384 --micro-batch 4"
H="--ds-set zero_optimization.contiguous_gradients=false --ds-set zero_optimization.overlap_comm=false"
timeout -s ABRT $(left 125) $B $M --tag h200x1_compile_views > $L/lm_views.log 2>&1
ZOO_DENSE_BOUNDARY=1 timeout -s ABRT $(left 250) $B $M --tag h200x1_compile_dense_boundary > $L/lm_dense.log 2>&1
timeout -s ABRT $(left 375) $B $M $H --tag h200x1_compile_views_plain_hooks > $L/lm_hooks.log 2>&1
timeout -s ABRT $(left 430) $B $P --tag h200x1_compile_views > $L/pix_views.log 2>&1
ZOO_DENSE_BOUNDARY=1 timeout -s ABRT $(left 485) $B $P --tag h200x1_compile_dense_boundary > $L/pix_dense.log 2>&1
timeout -s ABRT $(left 540) $B $P $H --tag h200x1_compile_views_plain_hooks > $L/pix_hooks.log 2>&1
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | tail -n 30; done > $OUT/logs.txt 2>&1
python3 -c "
import json; rows=json.load(open('$OUT/train.json'))
for r in rows:
    p = r.get('profile') or {}
    print(r['model'][:14], r.get('tag'), r.get('env'), r.get('ds_set'), r.get('step_ms'), r.get('mfu'), r.get('loss'), (r.get('error') or '')[:200])
    print('   steps', r.get('step_times_ms'))
    h = r.get('host_vs_gpu') or {}
    for k in ('forward', 'backward', 'step'): print('   ', k, h.get(k))
    print('   ', p.get('gpu_busy_ms_per_step'), p.get('gpu_ms_by_kind'))"
