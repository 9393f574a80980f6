# session 26, call 2 (nvidia-h200): call 1 found the backward's 32-row tiles (BLOCK_M1 = BLOCK_N2 = 32) faster at
# 16k (dilated 2.33 -> 2.18 ms, fixed 3.34 -> 3.24) and fixed joined twice as fast as its pieces at 3,072 and 4,096
# tokens. 1. s26_diag.py S26_CASE=tiles: base vs bwd_m32 vs base_again for every static pattern of the table at
# 16k and 64k, and the two halves of bwd_m32 and its 4-stage form for dilated and fixed at 16k; 2. S26_CASE=short at
# 1,024-12,288 tokens (call 1's deadline stopped it at 8,192); 3. the correctness cases call 1's deadline left
# (257 and 1,000 tokens). Carry: .whl.
source benchmarks/jobs/lib.sh
S26_CASE=tiles S26_NS=16384 S26_PATTERNS=dilated_window,fixed S26_VARIANTS=base,bwd_m32,bwd_m1_32,bwd_n2_32,bwd_m32_stages4,base_again \
  timeout -s ABRT 110 python3 benchmarks/jobs/s26_diag.py > $L/tiles_a.log 2>&1
mv $OUT/s26_tiles.json $OUT/s26_tiles_a.json
S26_CASE=tiles S26_NS=16384,65536 S26_PATTERNS=sliding_window,dilated_window,longformer,bigbird,strided,fixed \
  S26_VARIANTS=base,bwd_m32,base_again S26_DEADLINE=$(left 290) timeout -s ABRT $(left 320) \
  python3 benchmarks/jobs/s26_diag.py > $L/tiles_b.log 2>&1
S26_CASE=short S26_NS=12288,8192,2048,1024 S26_DEADLINE=$(left 430) timeout -s ABRT $(left 450) \
  python3 benchmarks/jobs/s26_diag.py > $L/short.log 2>&1
timeout -s ABRT $(left 585) python3 tools/gpu_correctness.py --workers 14 --deadline $(left 575) --lengths 257,1000 \
  --joined-from 0 --patterns strided,strided_split,fixed,fixed_split,fixed_s128 --out $OUT/correctness.json > $L/corr.log 2>&1
keep_logs 25
grep -E "^\{" $L/tiles_a.log | cut -c1-200
grep -E "^\{" $L/tiles_b.log | cut -c1-200
grep -E "^\{" $L/short.log | cut -c1-200
tail -n 12 $L/corr.log
