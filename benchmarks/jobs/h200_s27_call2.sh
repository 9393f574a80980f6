# prepared in session 26 for the next session (nvidia-h200): the correctness matrix on the backward's 32-row steps
# (kernels/tiles.py BWD_TILES_32, default on 64-token blocks since session 26; they apply in bf16 only). Session
# 26's matrix runs (attention_correctness_h200.json runs 28-29) predate them; run 60 found them bit-identical to the
# 64-row steps in every timing, unpadded. bf16, 257 and 1,000 tokens, padded and not, causal and not, every
# pattern whose calls run on 64-token blocks (routed bands included). Carry: .whl.
source benchmarks/jobs/lib.sh
timeout -s ABRT 575 python3 tools/gpu_correctness.py --workers 14 --deadline 560 --lengths 1000,257 --dtypes bfloat16 \
  --patterns sliding_window,dilated_window_r2,longformer,bigbird,strided,dilated_window,dilated_window_per_head,strided_split,learned,union,intersection,prefix_lm,lsh_chunk64,anchor_chunk64 \
  --out $OUT/correctness.json > $L/corr.log 2>&1
keep_logs 25
tail -n 24 $L/corr.log
