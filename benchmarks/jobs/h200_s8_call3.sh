# session 8, call 3 (nvidia-h200): issue #3: call 2's correctness run hit its deadline before the
# strided, fixed, lsh and anchor cases, so those again with more time, against the dense oracle
# (forward and gradients; length 1000 takes the transpose gathers at stride 5); then the compiled
# merge's gradients against the eager plumbing at 16k (bench_attention --ab: max_rel_err_grads_vs_zoo).
# (A second easy-VQA run planned here was dropped: two device starts failed and took the time.)
# Carry: .whl.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs; mkdir -p $L; T0=$(date +%s); left() { echo $(($1 - $(date +%s) + T0)); }
timeout -s ABRT 250 python3 tools/gpu_correctness.py --workers 14 --deadline 230 --lengths 7,257,1000 \
  --patterns strided,strided_split,fixed,fixed_split,lsh,anchor --out $OUT/correctness.json > $L/s8c3_corr.log 2>&1
timeout -s ABRT $(left 370) python3 tools/bench_attention.py --ab --no-peers --no-long --no-sdpa --ns 16384 \
  --patterns strided,fixed --deadline $(left 330) --out $OUT/attention_grads > $L/s8c3_attn.log 2>&1
for f in $L/s8c3_*.log; do echo "=== $f"; tr '\r' '\n' < $f | grep -v "it/s\]" | tail -n 40; done > $OUT/logs.txt 2>&1
tail -c 6000 $OUT/logs.txt
