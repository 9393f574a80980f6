# session 9, call 4 (nvidia-h200; the session's last ~5 device-minutes): issue #3's note needs what
# limits strided now that its residue classes run as heads: the top GPU kernels of its
# forward+backward at 16k (torch.profiler), with fixed for comparison. Carry: .whl.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
timeout -s ABRT 150 python3 tools/bench_attention.py --no-peers --no-long --no-sdpa --ns 16384 \
  --patterns strided --profile strided,fixed --deadline 120 --out $OUT/attention > /tmp/attn.log 2>&1
tr '\r' '\n' < /tmp/attn.log | grep -v "it/s\]" | tail -n 45
