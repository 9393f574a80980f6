# session 27, call 6 (nvidia-h200, short): the correctness matrix on the calls that took the backward's 32-row steps
# in call 4's code (kernels/tiles.py COPIES_ROWS32, JOINED_ROWS32_BELOW): fixed joined at 257 / 1,000 tokens
# (--joined-from 0) and Longformer's / BigBird's global copies at 1,024 / 2,048 (--copies-split 256), bf16, padded
# and not, causal and not, against fp64 dense. Carry: .whl.
source benchmarks/jobs/lib.sh
timeout -s ABRT 200 python3 tools/gpu_correctness.py --workers 8 --deadline 170 --lengths 1000,257 --dtypes bfloat16 \
  --joined-from 0 --patterns fixed,fixed_split,fixed_s128 --out $OUT/joined.json > $L/joined.log 2>&1 &
timeout -s ABRT 200 python3 tools/gpu_correctness.py --workers 6 --deadline 170 --lengths 2048,1024 --dtypes bfloat16 \
  --copies-split 256 --patterns longformer,bigbird --out $OUT/copies.json > $L/copies.log 2>&1 &
wait
keep_logs 25
tail -n 6 $L/joined.log $L/copies.log
