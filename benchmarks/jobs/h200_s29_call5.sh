# session 29, call 5 (nvidia-h200, short): the correctness matrix at this code for the patterns whose masks go through
# gather.head_of (session 28's refactor after the last GPU matrix, run 34): component and class-head masks with all
# heads and with a head subset (dilated_window_per_head), fp32 and bf16, padded and not, causal and not, against
# fp64 dense. Carry: .whl.
source benchmarks/jobs/lib.sh
timeout -s ABRT $(left 230) python3 tools/gpu_correctness.py --workers 8 --deadline $(($(left 215) - 15)) \
  --lengths 1000,257 --dtypes float32,bfloat16 --patterns strided,dilated_window_per_head,fixed_split,anchor \
  --out $OUT/head_of.json > $L/correct.log 2>&1
keep_logs 25
tail -n 12 $L/correct.log
