# session 25, call 4 (nvidia-h200, ~190 s of device budget left): the residue-class pieces (dilation 2 as two
# half-length causal windows, strided's column) on the 64-token blocks fused_block picks for their classes instead of
# 128 (the sliding window went 193 -> 227 useful TFLOP/s on 64-token blocks; dilated stayed at 169 / 174 on 128).
# 1. s25_joined_diag.py S25_CASE=class_block (64 vs 128, same process); 2. the attention table's dilated and strided
# rows; 3. tools/gpu_correctness.py for the class-head patterns and fixed (joined) in what time is left. Carry: .whl.
source benchmarks/jobs/lib.sh
S25_CASE=class_block timeout -s ABRT 95 python3 benchmarks/jobs/s25_joined_diag.py > $L/diag.log 2>&1
timeout -s ABRT $(left 150) python3 tools/bench_attention.py --no-peers --no-long --no-sdpa --ns 16384,65536 \
  --patterns dilated_window,strided --deadline $(left 145) --out $OUT/attention > $L/attn.log 2>&1
timeout -s ABRT $(left 182) python3 tools/gpu_correctness.py --workers 14 --deadline $(left 175) --lengths 7,257,1000 \
  --patterns dilated_window_r2,strided,strided_split,fixed,fixed_split --out $OUT/correctness.json > $L/corr.log 2>&1
keep_logs 20
grep -E "^\{" $L/diag.log | cut -c1-300
grep -E "^\{" $L/attn.log | cut -c1-200 | tail -n 8
tail -n 12 $L/corr.log
