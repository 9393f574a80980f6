# session 20, call 1 (nvidia-h200): routed chunk bands in their sorted order (kernels/routed.py, the new
# default for lsh and anchor). 1. the routed patterns' correctness matrix against the reference (fp32 / bf16,
# forward and gradients, padded or not, causal or not, 1 to 1,000 tokens); 2. lsh and anchor at 4k / 16k / 64k
# with --ab (zoo_components: the component path, ZOO_ROUTED_SORTED=0, same process), each zoo row with its
# route_ms, and their top kernels at 16k; 3. the Hugging Face peers at 16k. Carry: .whl, .whl_hf.
source benchmarks/jobs/lib.sh
hf_wheels
timeout -s ABRT 130 python3 tools/gpu_correctness.py --workers 14 --deadline 115 --lengths 1,7,128,257,1000 \
  --patterns lsh,anchor,lsh_chunk64,anchor_chunk64 --out $OUT/correctness.json > $L/corr.log 2>&1
timeout -s ABRT $(left 430) python3 tools/bench_attention.py --ab --no-peers --no-long --no-sdpa \
  --ns 4096,16384,65536 --patterns lsh,anchor --profile lsh,anchor --deadline $(left 400) --out $OUT/attention \
  > $L/attn.log 2>&1
timeout -s ABRT $(left 590) python3 tools/bench_attention.py --patterns "" --no-sdpa --no-long \
  --deadline $(left 570) --out $OUT/peers > $L/peers.log 2>&1
keep_logs 40
tail -n 8 $L/corr.log
grep -E "^\{|ms  x" $L/attn.log | cut -c1-230 | tail -n 40; grep -E "^\|" $L/peers.log | tail -n 8
