# session 14, call 2 (nvidia-h200), prepared in session 13 (not run yet): issue #8's MFU at twice
# the micro-batch (session 13 call 3: pixel at 16 x 12,288 tokens ran 162.1 ms, MFU 0.362, with
# the dense boundary), sparse and dense at the same shapes so the step speedup has its baseline.
# Set ZOO_GRAPH_ATTENTION / ZOO_DENSE_BOUNDARY in the call's command to what call 1 showed wins (the
# dense rows then run them too: same code for both). Last, DeepSpeed's per-parameter gradient hooks
# with zero_optimization.contiguous_gradients and overlap_comm off (one GPU: nothing to overlap; on
# the CPU, 147 parameters, backward 20.9 -> 16.0 ms). Compiled ZeRO-2 bf16. Carry: .whl.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs; mkdir -p $L; T0=$(date +%s); left() { echo $(($1 - $(date +%s) + T0)); }
B="python3 tools/bench_train.py --warmup 3 --steps 10 --compile --zero 2 --out $OUT/train.json"
P="--model pixel_base_strided.imagenet64 --seq-len 12288 --micro-batch 16"
M="--model lm_base_longformer.enwik8 --seq-len 16384 --micro-batch 8"
timeout -s ABRT $(left 70) $B $P --tag h200x1_compile_mb16 > $L/pix.log 2>&1
timeout -s ABRT $(left 200) $B $M --tag h200x1_compile_mb8 > $L/lm.log 2>&1
timeout -s ABRT $(left 290) $B $P --attention dense --tag h200x1_compile_mb16 > $L/pix_dense.log 2>&1
timeout -s ABRT $(left 380) $B $M --attention dense --tag h200x1_compile_mb8 > $L/lm_dense.log 2>&1
H="--ds-set zero_optimization.contiguous_gradients=false --ds-set zero_optimization.overlap_comm=false"
timeout -s ABRT $(left 440) $B $P $H --tag h200x1_compile_mb16_plain_hooks > $L/pix_hooks.log 2>&1
timeout -s ABRT $(left 560) $B $M $H --tag h200x1_compile_mb8_plain_hooks > $L/lm_hooks.log 2>&1
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | tail -n 30; done > $OUT/logs.txt 2>&1
python3 -c "
import json; rows=json.load(open('$OUT/train.json'))
for r in rows:
    print(r['model'][:14], r.get('attention'), r.get('tag'), r.get('env'), r.get('micro_batch'), r.get('step_ms'), r.get('mfu'), r.get('mem_peak_gib'), (r.get('error') or '')[:200])"
