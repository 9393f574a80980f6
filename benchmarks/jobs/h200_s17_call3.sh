# session 17, call 3 (nvidia-h200): 64-token blocks (ZOO_FLEX_BLOCK=64) after call 2 found them
# correct in the compiled model's GPU test and faster in the LM step (211.2 vs 220.0 ms). 1. the bf16
# correctness matrix of the fused patterns on 64-token blocks vs the fp64 dense oracle (lengths 257
# and 1001; 7 and 100 have fewer than 128 queries and stay on 128-token blocks, passed in call 1);
# 2. issue #3's fused patterns at 16k and 64k with --ab (bench_attention now holds the switch over the
# whole row: call 2's zoo_block64 rows ran their backward outside it). Carry: .whl.
source benchmarks/jobs/lib.sh
ZOO_FLEX_BLOCK=64 timeout -s ABRT 200 python3 tools/gpu_correctness.py --workers 14 --deadline 170 \
  --lengths 257,1001 --dtypes bfloat16 \
  --patterns dense,sliding_window,dilated_window_r2,dilated_window_per_head,longformer,bigbird,union,intersection,prefix_lm,learned \
  --out $OUT/correctness.json > $L/corr.log 2>&1
timeout -s ABRT $(left 440) python3 tools/bench_attention.py --no-peers --no-long --no-sdpa --ab --ns 16384,65536 \
  --patterns sliding_window,longformer,bigbird --deadline $(left 410) --out $OUT/attention > $L/attn.log 2>&1
keep_logs 40
tail -n 14 $L/corr.log
grep -E "^\|" $L/attn.log | tail -n 20
