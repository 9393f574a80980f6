# session 15, call 5 (nvidia-h200; run as one command with the device budget's last minutes, code
# b528b2c): issue #3's fused patterns at 16k through the dispatcher after kernels/tiles.py made 64 x 64,
# 4-warp backward tiles the default, beside FlexAttention with a plain mask_mod (torch's own tiles)
# in the same process. Carry: .whl.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
timeout -s ABRT 150 python3 tools/bench_attention.py --patterns sliding_window,longformer,bigbird --ns 16384 --no-peers --no-long \
  --no-sdpa --deadline 120 --out $OUT/attention > /tmp/a.log 2>&1
tail -n 25 /tmp/a.log
