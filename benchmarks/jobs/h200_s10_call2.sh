# session 10, call 2 (nvidia-h200): issue #3, Longformer's global rows apart, now split over key
# chunks (kernels/split_keys.py: flash-decoding's split-K). Call 1 ran them as one pass of B*H
# programs each walking every key tile, which lost to keeping them in the BlockMask (64k: 8.76 vs
# 6.88 ms; the pass's forward alone took ~5.5 ms). Now S = n/1024 chunks run as extra heads of
# one FlexAttention call and merge by log-sum-exp. (1) GPU correctness, forward and gradients, at
# 3072 (two chunks) and 7, 1000 (no split: the rows stay in the mask); (2) A/B at 16k and 64k with
# a kernel profile; (3) the Hugging Face peers at 16k. In the background: issue #8's ListOps data
# at LRA's full size into data/listops96k for the next call. Carry: .whl, .whl_hf.
# (Ran at commit 51de92b; the rows-apart path it measured was removed after this call.)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
python3 -c "import transformers" 2>/dev/null || python3 -m pip install -q --no-index --no-deps --no-compile \
  --no-cache-dir --target /tmp/hfsite .whl_hf/*.whl
export PYTHONPATH=/tmp/site:$PWD:/tmp/hfsite PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs; mkdir -p $L; T0=$(date +%s); left() { echo $(($1 - $(date +%s) + T0)); }
[ -f data/listops96k/DONE ] || (rm -rf data/listops96k; python3 -m zoo.cli data convert listops --out data/listops96k \
  --no-progress > $L/s10c2_lo_data.log 2>&1 && touch data/listops96k/DONE) &
timeout -s ABRT 150 python3 tools/gpu_correctness.py --workers 8 --deadline 130 --lengths 7,1000,3072 \
  --patterns longformer --out $OUT/correctness.json > $L/s10c2_corr.log 2>&1
timeout -s ABRT $(left 330) python3 tools/bench_attention.py --ab --no-peers --no-long --no-sdpa --ns 16384,65536 \
  --patterns longformer --profile longformer --deadline $(left 300) --out $OUT/attention > $L/s10c2_attn.log 2>&1
timeout -s ABRT $(left 420) python3 tools/bench_attention.py --patterns "" --no-long --no-sdpa \
  --deadline $(left 410) --out $OUT/peers > $L/s10c2_peers.log 2>&1
wait
ls data/listops96k | wc -l
for f in $L/s10c2_*.log; do echo "=== $f"; tr '\r' '\n' < $f | grep -v "it/s\]" | tail -n 60; done > $OUT/logs.txt 2>&1
tail -n 8 $L/s10c2_corr.log; grep -h "zoo\|flex_mask\|hf_\|ms  x" $L/s10c2_attn.log $L/s10c2_peers.log | tail -n 40
