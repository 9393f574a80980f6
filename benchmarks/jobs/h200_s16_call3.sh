# session 16, call 3 (nvidia-h200), prepared in session 15 (not run yet): in-graph FlexAttention on the
# projection's views (ZOO_GRAPH_VIEWS=1, opt-in) against the default contiguous copies of q, k, v.
# Session 15's pixel profile at 12,288 x 32 (b528b2c): 66 clone-of-transpose kernels, 14.3 ms of the
# 298.3 ms step (36 x triton_poi_fused_clone_transpose_view_1, 7.0 ms). Expect fewer copies in the
# profile ('copies', gpu_ms_by_kind.copy 21.4 ms) and, if the views are free for FlexAttention's
# template, a shorter step (MFU 0.40 needs <= 293 ms). 1. GPU tests of the in-graph path, views
# included (outputs and gradients vs the dispatcher and the reference backend); 2. pixel x32 and
# LM 16k x16, default vs views, profiled. Compiled ZeRO-2 bf16. Carry: .whl.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs; mkdir -p $L; T0=$(date +%s); left() { echo $(($1 - $(date +%s) + T0)); }
B="python3 tools/bench_train.py --warmup 3 --steps 10 --profile-steps 1 --compile --zero 2 --out $OUT/train.json"
P="--model pixel_base_strided.imagenet64 --seq-len 12288 --micro-batch 32"
M="--model lm_base_longformer.enwik8 --seq-len 16384 --micro-batch 16"
timeout -s ABRT 150 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_attention_module.py -k cuda > $L/graph_test.log 2>&1
timeout -s ABRT $(left 240) $B $P --tag h200x1_compile_mb32 > $L/pix.log 2>&1
ZOO_GRAPH_VIEWS=1 timeout -s ABRT $(left 330) $B $P --tag h200x1_compile_mb32_graph_views > $L/pix_views.log 2>&1
timeout -s ABRT $(left 460) $B $M --tag h200x1_compile_mb16 > $L/lm.log 2>&1
ZOO_GRAPH_VIEWS=1 timeout -s ABRT $(left 585) $B $M --tag h200x1_compile_mb16_graph_views > $L/lm_views.log 2>&1
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | tail -n 30; done > $OUT/logs.txt 2>&1
tail -n 5 $L/graph_test.log
python3 -c "
import json; rows=json.load(open('$OUT/train.json'))
for r in rows:
    p = r.get('profile') or {}
    print(r['model'][:14], r.get('tag'), r.get('env'), r.get('micro_batch'), r.get('step_ms'), r.get('mfu'), r.get('loss'), (r.get('error') or '')[:300])
    print('   ', p.get('gpu_busy_ms_per_step'), p.get('gpu_ms_by_kind'), sum(c['calls'] for c in p.get('copies') or []))"
