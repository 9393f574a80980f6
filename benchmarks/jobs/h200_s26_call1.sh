# session 26, call 1 (nvidia-h200): 1. the correctness matrix session 25 owed (tools/gpu_correctness.py) on the
# class-head patterns (64-token class blocks in bf16) and fixed joined (--joined-from 0, so the short cases take
# that path; fixed_s128 is the benchmark's stride, whose same-block test runs by shifts), fp32 and bf16;
# 2. s26_diag.py S26_CASE=short: fixed joined vs its two pieces at 3,072-12,288 tokens (joined starts at 16,384,
# the shortest measured); 3. S26_CASE=tiles: FlexAttention tile variants for dilated and fixed at 16k (dilated
# 199.8 useful TFLOP/s, fixed 161). Carry: .whl.
source benchmarks/jobs/lib.sh
timeout -s ABRT 250 python3 tools/gpu_correctness.py --workers 14 --deadline 235 --lengths 257,1000,2100 \
  --joined-from 0 --patterns dilated_window_r2,strided,strided_split,fixed,fixed_split,fixed_s128 \
  --out $OUT/correctness.json > $L/corr.log 2>&1
S26_CASE=short timeout -s ABRT $(left 400) python3 benchmarks/jobs/s26_diag.py > $L/short.log 2>&1
S26_CASE=tiles S26_DEADLINE=$(left 530) timeout -s ABRT $(left 585) python3 benchmarks/jobs/s26_diag.py > $L/tiles.log 2>&1
keep_logs 25
tail -n 20 $L/corr.log
grep -E "^\{" $L/short.log | cut -c1-260
grep -E "^\{" $L/tiles.log | cut -c1-260
