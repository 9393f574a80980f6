# session 20, call 3 (nvidia-h200): call 2's compiled permutation gathers took lsh 18.9 -> 10.5 ms and anchor
# 11.9 -> 7.75 ms fwd+bwd at 16k (160/160 routed correctness cases); its diagnosis put lsh's hashing at 4.0 ms
# (eager max and min 2.3) and its profile ~1.5 ms in the eager self-row fill. Now both compiled (routing._hash,
# gather._merge_alone): 1. lsh / anchor at 16k / 64k with --ab (the component path and the sorted path's eager
# plumbing, outputs and gradients compared), lsh's profile at 16k; 2. 4k; 3. the Hugging Face peers at 16k;
# 4. the GPU test of the compiled plumbing (tests/test_routed_sorted.py). Carry: .whl, .whl_hf.
source benchmarks/jobs/lib.sh
hf_wheels
timeout -s ABRT 220 python3 tools/bench_attention.py --ab --no-peers --no-long --no-sdpa --ns 16384,65536 \
  --patterns lsh,anchor --profile lsh --deadline 200 --out $OUT/attention > $L/attn.log 2>&1
timeout -s ABRT $(left 270) python3 tools/bench_attention.py --no-peers --no-long --no-sdpa --ns 4096 \
  --patterns lsh,anchor --deadline $(left 260) --out $OUT/attention4k > $L/attn4k.log 2>&1
timeout -s ABRT $(left 350) python3 tools/bench_attention.py --patterns "" --no-sdpa --no-long \
  --deadline $(left 340) --out $OUT/peers > $L/peers.log 2>&1
timeout -s ABRT $(left 420) python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_routed_sorted.py -rA \
  > $L/gpu_tests.log 2>&1
keep_logs 40
grep -E "^\{|ms  x" $L/attn.log $L/attn4k.log | cut -c1-200 | tail -n 40
grep -E "^\|" $L/peers.log | tail -n 8; grep -E "passed|failed|Error" $L/gpu_tests.log | tail -n 4
