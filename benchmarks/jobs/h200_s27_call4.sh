# session 27, call 4 (nvidia-h200): the attention table at the session's code, after call 3 (s27_diag.py): the
# backward's 32-row steps now also in Longformer's global copies (64k) and in fixed joined below 65,536 tokens
# (kernels/tiles.py COPIES_ROWS32, JOINED_ROWS32_BELOW). Static patterns at 16k and 64k. Carry: .whl.
source benchmarks/jobs/lib.sh
timeout -s ABRT 300 python3 tools/bench_attention.py --no-peers --no-long --no-sdpa --ns 16384,65536 \
  --patterns longformer,fixed,bigbird,sliding_window,dilated_window,strided --deadline 280 --out $OUT/attention \
  > $L/attn.log 2>&1
keep_logs 20
grep -E "^\{" $L/attn.log | cut -c1-200 | tail -n 14
