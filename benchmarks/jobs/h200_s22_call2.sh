# session 22, call 2 (nvidia-h200, the ~4 device minutes left): call 1 measured the routing kernel's bf16x3 dots at
# 0.49 vs 0.87 ms (16k) and 1.60 vs 2.95 ms (64k), lsh 4.67 / 5.90 vs 5.07 / 7.27 ms fwd+bwd; bf16x3 is the default
# for bf16 keys now. Re-times lsh / anchor at 16k / 64k on it (no --ab) and the peers at 16k. Carry: .whl, .whl_hf.
source benchmarks/jobs/lib.sh
hf_wheels
timeout -s ABRT $(left 100) python3 tools/bench_attention.py --no-peers --no-long --no-sdpa \
  --ns 16384,65536 --patterns lsh,anchor --deadline $(left 95) --out $OUT/attention > $L/attn.log 2>&1
timeout -s ABRT $(left 150) python3 tools/bench_attention.py --patterns "" --no-sdpa --no-long \
  --deadline $(left 145) --out $OUT/peers > $L/peers.log 2>&1
keep_logs 30
grep -E "^\{" $L/attn.log | cut -c1-180 | tail -n 8
grep -E "^\|" $L/peers.log | tail -n 8
