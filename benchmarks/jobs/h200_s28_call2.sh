# session 28, call 2 (nvidia-h200): the appends of fixed joined and the global copies outside the compiled graph
# (kernels/appended.py: the copies' gradients added in place) against session 27's one graph, alternating twice
# (benchmarks/jobs/s28_diag.py S28_CASE=appended); then the correctness matrix on the new appends: fixed joined at
# 257 / 1,000 tokens (--joined-from 0) and the global copies at 1,024 / 2,048 (--copies-split 256), bf16, padded
# and not, causal and not, against fp64 dense. Carry: .whl.
source benchmarks/jobs/lib.sh
S28_CASE=appended S28_DEADLINE=${S28_DEADLINE:-200} timeout -s ABRT $(left 260) python3 benchmarks/jobs/s28_diag.py \
  > $L/appended.log 2>&1
timeout -s ABRT $(left 470) python3 tools/gpu_correctness.py --workers 8 --deadline $(($(left 440) - 20)) \
  --lengths 1000,257 --dtypes bfloat16 --joined-from 0 --patterns fixed,fixed_split,fixed_s128 \
  --out $OUT/joined.json > $L/joined.log 2>&1 &
timeout -s ABRT $(left 470) python3 tools/gpu_correctness.py --workers 6 --deadline $(($(left 440) - 20)) \
  --lengths 2048,1024 --dtypes bfloat16 --copies-split 256 --patterns longformer,bigbird \
  --out $OUT/copies.json > $L/copies.log 2>&1 &
wait
keep_logs 25
grep -E "^\{" $L/appended.log | cut -c1-420
tail -n 6 $L/joined.log $L/copies.log
