# session 5, call 1 (nvidia-h200): issue #3's two untried leads, each timed against the path it
# replaces in the same process (bench_attention --ab): (1) routed LSH/anchor chunks on 64-token tiles
# (= the chunk) instead of 128 (rows zoo vs zoo_tile128), with a kernel profile of each; (2) dilated
# r=2 as one fused block mask with the dilation as a constant (rows zoo vs zoo_components). GPU
# correctness of both first. Then the Hugging Face peers at 16k, not re-measured since session 2.
# Carry: .whl, .whl_hf (transformers 5.17.0, installed only if the image lacks it).
# Outcome: routed chunks on 64-token tiles did not compile on torch 2.11 (NoValidChoicesError), so that
# code was not committed; dilated r=2 fused won and was (e14bc5d). attention_h200.json run 7.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
python3 -c "import transformers" 2>/dev/null || python3 -m pip install -q --no-index --no-deps --no-compile \
  --no-cache-dir --target /tmp/hfsite .whl_hf/*.whl
export PYTHONPATH=/tmp/site:$PWD:/tmp/hfsite PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs; mkdir -p $L; T0=$(date +%s); left() { echo $(($1 - $(date +%s) + T0)); }
timeout -s ABRT 150 python3 tools/gpu_correctness.py --workers 14 --deadline 130 --lengths 7,257,1000 \
  --patterns dilated_window_r2,dilated_window_per_head,lsh,anchor,lsh_chunk64,anchor_chunk64 \
  --out $OUT/correctness.json > $L/s5c1_corr.log 2>&1
timeout -s ABRT $(left 575) python3 tools/bench_attention.py --ab --no-long --ns 16384,65536 \
  --patterns dilated_window,lsh,anchor --profile lsh,anchor --deadline $(left 520) \
  --out $OUT/attention > $L/s5c1_attn.log 2>&1
for f in $L/s5c1_*.log; do echo "=== $f"; tr '\r' '\n' < $f | grep -v "it/s\]" | tail -n 60; done > $OUT/logs.txt 2>&1
tail -c 9000 $OUT/logs.txt
