# session 10, call 1 (nvidia-h200): issue #3's two new fast paths. (a) dilated_window r = 2 at
# lengths that divide by 2 runs as class heads (one plain band on two n/2-token heads, no copy)
# instead of the fused BlockMask, which computes every tile the dilated span touches; (b) the
# non-causal Longformer's 32 global rows leave the fused BlockMask (Pattern.fused_apart) and run
# as a pass of their own, so no query tile walks all key blocks. (1) GPU correctness against the
# dense oracle, forward and gradients, at 1000 (class heads) and 7, 257 (fused); (2) A/B in one
# process at 16k and 64k: zoo vs zoo_fused / zoo_class_gather (dilated) and zoo_rows_in_mask /
# zoo_components (longformer), with a kernel profile of longformer; (3) the Hugging Face peers at
# 16k (module level). In the background: issue #8's ListOps data at LRA's full size (96,000
# training examples) into data/listops96k, which the next call reuses while the machine is warm.
# Carry: .whl, .whl_hf.
# (Ran at commit a4d6818; the Longformer rows-apart path it measured was removed after call 2.)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
python3 -c "import transformers" 2>/dev/null || python3 -m pip install -q --no-index --no-deps --no-compile \
  --no-cache-dir --target /tmp/hfsite .whl_hf/*.whl
export PYTHONPATH=/tmp/site:$PWD:/tmp/hfsite PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs; mkdir -p $L; T0=$(date +%s); left() { echo $(($1 - $(date +%s) + T0)); }
(python3 -m zoo.cli data convert listops --out data/listops96k --no-progress > $L/s10c1_lo_data.log 2>&1 \
  && touch data/listops96k/DONE) &
timeout -s ABRT 170 python3 tools/gpu_correctness.py --workers 8 --deadline 150 --lengths 7,257,1000 \
  --patterns dilated_window_r2,longformer --out $OUT/correctness.json > $L/s10c1_corr.log 2>&1
timeout -s ABRT $(left 470) python3 tools/bench_attention.py --ab --no-peers --no-long --no-sdpa --ns 16384,65536 \
  --patterns dilated_window,longformer --profile longformer --deadline $(left 420) \
  --out $OUT/attention > $L/s10c1_attn.log 2>&1
timeout -s ABRT $(left 560) python3 tools/bench_attention.py --patterns "" --no-long --no-sdpa \
  --deadline $(left 550) --out $OUT/peers > $L/s10c1_peers.log 2>&1
wait
ls data/listops96k | head -3; du -sh data/listops96k
for f in $L/s10c1_*.log; do echo "=== $f"; tr '\r' '\n' < $f | grep -v "it/s\]" | tail -n 60; done > $OUT/logs.txt 2>&1
tail -n 20 $L/s10c1_corr.log; grep -h "zoo\|flex_mask\|hf_" $L/s10c1_attn.log $L/s10c1_peers.log | tail -n 24
