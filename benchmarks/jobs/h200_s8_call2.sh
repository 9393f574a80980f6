# session 8, call 2 (nvidia-h200): issue #3's component plumbing. Residue-class pieces (strided,
# dilated r > 2) covering the whole axis are now gathered and put back by a reshape-transpose (a
# copy both ways, not index_select + index_add), static positions go to the device once (a
# host-to-device copy per call also made the host wait for the GPU), and on CUDA the log-sum-exp
# merge is one compiled graph. (1) GPU correctness of every component-path pattern against the
# dense oracle, forward and gradients, at lengths where the transpose applies (1000 for stride 5,
# 999 for dilation 3) and where it does not; (2) each pattern timed against the old plumbing in the
# same process (bench_attention --ab: rows zoo vs zoo_eager_plumbing) with kernel profiles; (3) the
# Hugging Face peers at 16k. Carry: .whl, .whl_hf.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
python3 -c "import transformers" 2>/dev/null || python3 -m pip install -q --no-index --no-deps --no-compile \
  --no-cache-dir --target /tmp/hfsite .whl_hf/*.whl
export PYTHONPATH=/tmp/site:$PWD:/tmp/hfsite PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs; mkdir -p $L; T0=$(date +%s); left() { echo $(($1 - $(date +%s) + T0)); }
timeout -s ABRT 150 python3 tools/gpu_correctness.py --workers 14 --deadline 130 --lengths 7,257,999,1000 \
  --patterns strided,strided_split,fixed,fixed_split,dilated_window,dilated_window_per_head,union,lsh,anchor \
  --out $OUT/correctness.json > $L/s8c2_corr.log 2>&1
timeout -s ABRT $(left 400) python3 tools/bench_attention.py --ab --no-peers --no-long --no-sdpa --ns 16384,65536 \
  --patterns strided,fixed,lsh,anchor --profile strided,lsh --deadline $(left 340) \
  --out $OUT/attention > $L/s8c2_attn.log 2>&1
timeout -s ABRT $(left 480) python3 tools/bench_attention.py --patterns "" --no-long --no-sdpa \
  --deadline $(left 470) --out $OUT/peers > $L/s8c2_peers.log 2>&1
for f in $L/s8c2_*.log; do echo "=== $f"; tr '\r' '\n' < $f | grep -v "it/s\]" | tail -n 60; done > $OUT/logs.txt 2>&1
tail -c 9000 $OUT/logs.txt
