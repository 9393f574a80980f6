# session 21, call 3 (nvidia-h200): call 2 put the fused projection-argmax routing at lsh 6.13 / 9.10 ms and
# anchor 6.40 / 6.52 ms fwd+bwd (16k / 64k); its diagnosis: 256 x 64 kernel tiles with 8 warps beat 128 x 64
# (0.85 vs 1.14 ms at 16k, 2.93 vs 3.84 at 64k), an int32 sort halves int64's (0.21 vs 0.43 ms), and anchor's
# FlexAttention took 4.4 ms over two calls (band + window on the generic component path). Now: those tiles,
# int32 ids, anchor's window on the sliding-window pattern's fused BlockMask. 1. GPU tests; 2. routed
# correctness (reduced matrix); 3. lsh / anchor at 4k / 16k / 64k with --ab and profiles; 4. the peers at 16k.
# Carry: .whl, .whl_hf.
source benchmarks/jobs/lib.sh
hf_wheels
timeout -s ABRT 150 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_argmax_proj.py \
  tests/test_routed_sorted.py -rA > $L/gpu_tests.log 2>&1
timeout -s ABRT $(left 260) python3 tools/gpu_correctness.py --workers 14 --deadline $(left 250) \
  --lengths 7,257,1000 --patterns lsh,anchor --out $OUT/correctness.json > $L/corr.log 2>&1
timeout -s ABRT $(left 400) python3 tools/bench_attention.py --ab --no-peers --no-long --no-sdpa \
  --ns 4096,16384,65536 --patterns lsh,anchor --profile lsh,anchor --deadline $(left 390) \
  --out $OUT/attention > $L/attn.log 2>&1
timeout -s ABRT $(left 460) python3 tools/bench_attention.py --patterns "" --no-sdpa --no-long \
  --deadline $(left 450) --out $OUT/peers > $L/peers.log 2>&1
keep_logs 40
grep -E "passed|failed|Error" $L/gpu_tests.log | tail -n 4; tail -n 3 $L/corr.log
grep -E "^\{" $L/attn.log | cut -c1-180 | tail -n 20
grep -E "^\|" $L/peers.log | tail -n 8
