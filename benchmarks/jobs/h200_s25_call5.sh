# session 25, call 5 (warm, ~150 s of budget): call 4's correctness run was cut before it wrote; the class-head
# patterns and fixed against the dense oracle at 257 and 1,000 tokens (64-token class blocks at 1,000). Carry: .whl.
source benchmarks/jobs/lib.sh
timeout -s ABRT 135 python3 tools/gpu_correctness.py --workers 14 --deadline 120 --lengths 257,1000 \
  --patterns dilated_window_r2,strided,fixed --out $OUT/correctness.json > $L/corr.log 2>&1
keep_logs 40
grep -v "^E1203" $L/corr.log | tail -n 25
