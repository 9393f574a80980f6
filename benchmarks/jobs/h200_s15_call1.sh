# session 15, call 1 (nvidia-h200), prepared in session 14 (not run yet): 64 x 64 kernel tiles for
# residue-class pieces of <= 64 tokens (ZOO_CLASS_TILES=64, opt-in). Session 14 call 4 tried them with
# 64-token BlockMask blocks: torch 2.11 checks its default backward tiles against the BlockMask's
# block before applying overrides, so bf16 had no valid backward config (NoValidChoicesError,
# pytorch/pytorch#176025). Now the BlockMask keeps 128-token blocks and only the tiles shrink.
# 1. GPU tests of the in-graph path, with and without the tiles (outputs and gradients vs the
#    dispatcher and the reference backend);
# 2. dense-oracle correctness of short class pieces with the tiles (n/r <= 64 at these lengths);
# 3. pixel_base_strided 12,288 x 32 (its dilated layers: 192 classes of 64 tokens) default vs tiles,
#    profiled (session 14: 303.6 ms, MFU 0.386, FlexAttention 71 ms of 290 ms GPU time).
# Compiled ZeRO-2 bf16. Carry: .whl.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs; mkdir -p $L; T0=$(date +%s); left() { echo $(($1 - $(date +%s) + T0)); }
B="python3 tools/bench_train.py --warmup 3 --steps 10 --profile-steps 1 --compile --zero 2 --out $OUT/train.json"
P="--model pixel_base_strided.imagenet64 --seq-len 12288 --micro-batch 32"
timeout -s ABRT 120 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_attention_module.py -k cuda > $L/graph_test.log 2>&1
ZOO_CLASS_TILES=64 timeout -s ABRT $(left 290) python3 tools/gpu_correctness.py --workers 8 --deadline $(( $(left 270) )) \
  --lengths 96,128,192,320 --patterns dilated_window,dilated_window_r2,strided,fixed --out $OUT/correctness.json > $L/corr.log 2>&1
timeout -s ABRT $(left 380) $B $P --tag h200x1_compile_mb32 > $L/pix.log 2>&1
ZOO_CLASS_TILES=64 timeout -s ABRT $(left 470) $B $P --tag h200x1_compile_mb32_class_tiles64 > $L/pix64.log 2>&1
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | tail -n 30; done > $OUT/logs.txt 2>&1
tail -n 3 $L/graph_test.log; tail -n 12 $L/corr.log
python3 -c "
import json; rows=json.load(open('$OUT/train.json'))
for r in rows:
    p = r.get('profile') or {}
    print(r['model'][:14], r.get('attention'), r.get('tag'), r.get('env'), r.get('micro_batch'), r.get('step_ms'), r.get('mfu'), r.get('loss'), (r.get('error') or '')[:200])
    print('   ', p.get('gpu_busy_ms_per_step'), p.get('gpu_ms_by_kind'), [k for k in (p.get('top_gpu_kernels') or []) if 'flex' in k['name']])"
