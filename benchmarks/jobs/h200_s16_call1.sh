# session 16, call 1 (nvidia-h200), prepared in session 15 (not run yet): correctness of the flex
# backend against the fp64 dense oracle since FlexAttention's backward runs on 64 x 64, 4-warp tiles
# (kernels/tiles.py, default since b528b2c; bf16 only, so the bf16 half of the matrix is what changed),
# every static pattern at lengths 7, 257, 1000, padded or not, causal or not; then the tile sweep on both
# models' layers and issue #3's fused patterns with the forward tiles tried on top of ours
# (ours_fwd_128x64_w4; session 15: forward 128 x 64 alone gained 0.2-0.3 ms on three of four layers).
# Carry: .whl.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 PYTHONFAULTHANDLER=1
L=/tmp/logs; mkdir -p $L; T0=$(date +%s); left() { echo $(($1 - $(date +%s) + T0)); }
timeout -s ABRT 330 python3 tools/gpu_correctness.py --workers 14 --deadline 300 --lengths 7,257,1000 --dtypes bfloat16 \
  --patterns dense,sliding_window,dilated_window,dilated_window_r2,dilated_window_per_head,longformer,bigbird,strided,strided_split,fixed,fixed_split,union,intersection,prefix_lm,lsh,anchor \
  --out $OUT/correctness.json > $L/corr.log 2>&1
timeout -s ABRT $(left 585) python3 tools/tune_flex_tiles.py --cases both --variants default,torch,ours_fwd_128x64_w4,bwd_32x128_w4 \
  --deadline $(left 545) --out $OUT/tiles.json > $L/tiles.log 2>&1
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | tail -n 40; done > $OUT/logs.txt 2>&1
tail -n 40 $L/corr.log; tail -n 40 $L/tiles.log
