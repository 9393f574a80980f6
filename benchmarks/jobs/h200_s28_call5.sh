# session 28, call 5 (nvidia-h200): the component and class-head masks with natural positions and all heads as
# arithmetic against session 27's table reads (s28_diag.py S28_CASE=masks); then issue #3's table rows for strided
# and dilated at 16k / 64k and the correctness matrix of the patterns on those paths (fp32 and bf16). Carry: .whl.
source benchmarks/jobs/lib.sh
S28_CASE=masks S28_DEADLINE=${S28_DEADLINE:-150} timeout -s ABRT $(left 200) python3 benchmarks/jobs/s28_diag.py \
  > $L/masks.log 2>&1
timeout -s ABRT $(left 300) python3 tools/bench_attention.py --no-peers --no-long --no-sdpa --ns 16384,65536 \
  --patterns strided,dilated_window --deadline $(($(left 280) - 10)) --out $OUT/attention > $L/table.log 2>&1
timeout -s ABRT $(left 470) python3 tools/gpu_correctness.py --workers 8 --deadline $(($(left 450) - 20)) \
  --lengths 1000,257 --dtypes float32,bfloat16 \
  --patterns strided,strided_split,dilated_window,dilated_window_r2,dilated_window_per_head,fixed_split,lsh,anchor \
  --out $OUT/masks_correct.json > $L/correct.log 2>&1
keep_logs 25
grep -E "^\{" $L/masks.log | cut -c1-260
tail -n 7 $L/table.log
tail -n 12 $L/correct.log
