# session 16, call 2 (nvidia-h200), prepared in session 15 (not run yet): issue #3's table again with
# the 64 x 64, 4-warp backward tiles (kernels/tiles.py) on every static pattern at 16k and 64k: the
# 64k rows and strided / fixed / dilated (class heads) were last timed on torch's tiles. Strided and
# fixed are profiled (session 9: their FlexAttention kernels 3.39 of 4.34 ms and 4.76 of 5.72 ms at 16k).
# Carry: .whl.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 PYTHONFAULTHANDLER=1
timeout -s ABRT 560 python3 tools/bench_attention.py --no-peers --no-long --no-sdpa --ns 16384,65536 \
  --patterns sliding_window,dilated_window,longformer,bigbird,strided,fixed,lsh,anchor --profile strided,fixed \
  --deadline 520 --out $OUT/attention > /tmp/attn.log 2>&1
tail -n 40 /tmp/attn.log
