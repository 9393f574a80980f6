# session 14, call 1 (nvidia-h200), prepared in session 13 (not run yet): issue #8's MFU, two
# opt-in changes of session 13 against the default, compiled ZeRO-2 bf16, one process after the
# other, each with a deadline that fits a compiling first step (LM 65-85 s, pixel 20-25 s):
# - ZOO_GRAPH_ATTENTION=1: fused static attention runs inside each compiled block's graph (no graph
#   break: no dispatcher per call, no gradients crossing graphs; CPU: 7 graphs -> 2 for lm_tiny);
# - ZOO_DENSE_BOUNDARY=1: dense tensors where the graph still breaks (_DenseGrad; session 13 call 3:
#   the pixel step's crossing-gradient copies 48 -> 6, backward GPU time 57.8 -> 52.6 ms).
# First the in-graph path's GPU test (output and gradients vs the dispatcher, no graph break; fused,
# class-head and dense layers), then equal losses across the rows check it in training. Models:
# lm_base_longformer.enwik8 16k x 4 (every layer fused), pixel_base_strided.imagenet64 12,288 x 8
# (sliding layers fused, dilated layers as class heads): with graph attention neither has a graph
# break left, so the dense boundary only matters without it. Carry: .whl.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs; mkdir -p $L; T0=$(date +%s); left() { echo $(($1 - $(date +%s) + T0)); }
B="python3 tools/bench_train.py --warmup 3 --steps 10 --profile-steps 1 --compile --zero 2 --out $OUT/train.json"
P="--model pixel_base_strided.imagenet64 --seq-len 12288 --micro-batch 8"
M="--model lm_base_longformer.enwik8 --seq-len 16384 --micro-batch 4"
timeout -s ABRT 90 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_attention_module.py -k cuda > $L/graph_test.log 2>&1
timeout -s ABRT $(left 215) $B $M --tag h200x1_compile > $L/lm.log 2>&1
ZOO_GRAPH_ATTENTION=1 timeout -s ABRT $(left 340) $B $M --tag h200x1_compile_graph_attention > $L/lm_graph.log 2>&1
timeout -s ABRT $(left 395) $B $P --tag h200x1_compile > $L/pix.log 2>&1
ZOO_GRAPH_ATTENTION=1 timeout -s ABRT $(left 450) $B $P --tag h200x1_compile_graph_attention > $L/pix_graph.log 2>&1
ZOO_DENSE_BOUNDARY=1 timeout -s ABRT $(left 505) $B $P --tag h200x1_compile_dense_boundary > $L/pix_dense.log 2>&1
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | tail -n 30; done > $OUT/logs.txt 2>&1
tail -n 3 $L/graph_test.log
python3 -c "
import json; rows=json.load(open('$OUT/train.json'))
for r in rows:
    p = r.get('profile') or {}
    print(r['model'][:14], r.get('tag'), r.get('env'), r.get('step_ms'), r.get('mfu'), r.get('loss'), (r.get('error') or '')[:200])
    print('   steps', r.get('step_times_ms'))
    h = r.get('host_vs_gpu') or {}
    for k in ('forward', 'backward', 'step'): print('   ', k, h.get(k))
    print('   ', p.get('gpu_busy_ms_per_step'), p.get('gpu_ms_by_kind'), (p.get('copies') or [])[:1])"
