# session 19, call 2 (nvidia-h200), prepared in session 18 (not run yet): issue #3's table on the 64-token
# default: the fused patterns at 16k and 64k with --ab (each gets a zoo_block128 row; the component-path
# patterns are unchanged and not re-run), then the Hugging Face peers at 16k (our modules now on 64-token
# blocks; last timed on 128: 10.1x / 10.9x / 0.99x) and the 1M-token sliding window (its BlockMask's
# tables grow 4x on 64-token blocks; run 1's 8.19 GiB peak was on 128). Carry: .whl, and .whl_hf if the
# image lacks transformers (session 5's recipe: transformers 5.17.0 and its wheels, installed only if missing).
source benchmarks/jobs/lib.sh
hf_wheels
timeout -s ABRT 420 python3 tools/bench_attention.py --ab --no-peers --no-long --no-sdpa --ns 16384,65536 \
  --patterns sliding_window,longformer,bigbird --deadline 400 --out $OUT/attention > $L/attn.log 2>&1
timeout -s ABRT $(left 590) python3 tools/bench_attention.py --patterns "" --no-sdpa \
  --deadline $(left 570) --out $OUT/peers > $L/peers.log 2>&1
keep_logs 40
grep -E "^\|" $L/attn.log | tail -n 40; grep -E "^\|" $L/peers.log | tail -n 8
