# session 21, call 1 (nvidia-h200), prepared in session 20 (not run yet): the routed path as it stands after
# session 20's last GPU call (e3546b6): v with its own head dim, the compiled-hash threshold on the projection
# count, one component BlockMask builder, ZOO_EAGER_PLUMBING=1 also turning off the compiled hash.
# 1. the GPU test of the compiled plumbing (now compiled vs eager hashing too); 2. the routed correctness
# matrix (fp32 / bf16, 1 to 1,000 tokens); 3. lsh and anchor at 16k / 64k with --ab. Carry: .whl.
source benchmarks/jobs/lib.sh
timeout -s ABRT 150 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_routed_sorted.py -rA > $L/gpu_tests.log 2>&1
timeout -s ABRT $(left 330) python3 tools/gpu_correctness.py --workers 14 --deadline $(left 315) \
  --lengths 1,7,128,257,1000 --patterns lsh,anchor,lsh_chunk64,anchor_chunk64 --out $OUT/correctness.json \
  > $L/corr.log 2>&1
timeout -s ABRT $(left 580) python3 tools/bench_attention.py --ab --no-peers --no-long --no-sdpa --ns 16384,65536 \
  --patterns lsh,anchor --deadline $(left 560) --out $OUT/attention > $L/attn.log 2>&1
keep_logs 40
grep -E "passed|failed|Error" $L/gpu_tests.log | tail -n 4; tail -n 10 $L/corr.log
grep -E "^\{" $L/attn.log | cut -c1-200 | tail -n 20
