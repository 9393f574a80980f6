# session 15, call 4 (nvidia-h200), prepared in session 14 (not run yet; after calls 2, 1, 3 if device
# time is left): where issue #3's strided and fixed time goes. At 16k they take 4.34 / 5.72 ms fwd+bwd
# (41 / 94 useful TFLOP/s, goal 200) as two pieces (a sliding window and residue classes as heads)
# merged by log-sum-exp; their pieces' kernels alone should take far less. The profile lists the
# top GPU kernels at N = 16,384 (merge, copies, the two FlexAttention calls), and the tile sweep runs
# issue #3's fused patterns (sliding window at 176 useful TFLOP/s, bigbird 166 at 64k). Carry: .whl.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 PYTHONFAULTHANDLER=1
timeout -s ABRT 200 python3 tools/bench_attention.py --patterns strided,fixed --ns 16384 --no-peers --no-long --no-sdpa \
  --profile strided,fixed --deadline 170 --out $OUT/attention > /tmp/attn.log 2>&1
tail -n 30 /tmp/attn.log
timeout -s ABRT 360 python3 tools/tune_flex_tiles.py --cases anchors --deadline 320 --out $OUT/tiles_anchors.json 2>&1 | tail -n 30
