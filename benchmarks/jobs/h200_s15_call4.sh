# session 15, call 4 (nvidia-h200): FlexAttention backward tiles 64 x 64 with 4 warps
# (kernels/tiles.py, the default since this session) against torch's own (ZOO_FLEX_TILES=0) in the
# full training step. Call 3's sweep (benchmarks/flex_tiles_h200.json): every in-graph layer of
# both models ran faster with them, gradients bit-identical (pixel dilated 8.47 -> 6.92 ms fwd+bwd).
# 1. pixel_base_strided 12,288 x 32 and lm_base_longformer 16k x 16, both tile choices, profiled;
# 2. GPU tests of the in-graph path (with ours and with torch's tiles);
# 3. the tile sweep on issue #3's fused anchor patterns (ours, torch's, one more) in the time left.
# Compiled ZeRO-2 bf16. Carry: .whl.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs; mkdir -p $L; T0=$(date +%s); left() { echo $(($1 - $(date +%s) + T0)); }
B="python3 tools/bench_train.py --warmup 3 --steps 10 --profile-steps 1 --compile --zero 2 --out $OUT/train.json"
P="--model pixel_base_strided.imagenet64 --seq-len 12288 --micro-batch 32"
M="--model lm_base_longformer.enwik8 --seq-len 16384 --micro-batch 16"
timeout -s ABRT $(left 90) $B $P --tag h200x1_compile_mb32 > $L/pix.log 2>&1
ZOO_FLEX_TILES=0 timeout -s ABRT $(left 170) $B $P --tag h200x1_compile_mb32_torch_tiles > $L/pix_torch.log 2>&1
timeout -s ABRT $(left 300) $B $M --tag h200x1_compile_mb16 > $L/lm.log 2>&1
ZOO_FLEX_TILES=0 timeout -s ABRT $(left 400) $B $M --tag h200x1_compile_mb16_torch_tiles > $L/lm_torch.log 2>&1
timeout -s ABRT $(left 480) python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_attention_module.py -k cuda > $L/graph_test.log 2>&1
timeout -s ABRT $(left 585) python3 tools/tune_flex_tiles.py --cases anchors --variants default,torch,bwd_32x128_w4 \
  --deadline $(left 540) --out $OUT/tiles_anchors.json > $L/tiles.log 2>&1
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | tail -n 30; done > $OUT/logs.txt 2>&1
tail -n 3 $L/graph_test.log; tail -n 12 $L/tiles.log
python3 -c "
import json; rows=json.load(open('$OUT/train.json'))
for r in rows:
    p = r.get('profile') or {}
    print(r['model'][:14], r.get('tag'), r.get('env'), r.get('micro_batch'), r.get('step_ms'), r.get('mfu'), r.get('loss'), (r.get('error') or '')[:200])
    print('   ', p.get('gpu_busy_ms_per_step'), p.get('gpu_ms_by_kind'))"
