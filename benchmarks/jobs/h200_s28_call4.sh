# session 28, call 4 (nvidia-h200): fixed joined's kernel mask with the summary keys' positions in closed form
# against the pos table (s28_diag.py S28_CASE=position); then issue #3's table rows for fixed at 16k / 64k and the
# correctness matrix of fixed joined (--joined-from 0; fp32 and bf16, padded and not, causal and not). Carry: .whl.
source benchmarks/jobs/lib.sh
S28_CASE=position S28_DEADLINE=${S28_DEADLINE:-150} timeout -s ABRT $(left 200) python3 benchmarks/jobs/s28_diag.py \
  > $L/position.log 2>&1
timeout -s ABRT $(left 290) python3 tools/bench_attention.py --no-peers --no-long --no-sdpa --ns 16384,65536 \
  --patterns fixed --deadline $(($(left 270) - 10)) --out $OUT/attention > $L/table.log 2>&1
timeout -s ABRT $(left 450) python3 tools/gpu_correctness.py --workers 8 --deadline $(($(left 430) - 20)) \
  --lengths 1000,257 --dtypes float32,bfloat16 --joined-from 0 --patterns fixed,fixed_split,fixed_s128 \
  --out $OUT/joined.json > $L/joined.log 2>&1
keep_logs 25
grep -E "^\{" $L/position.log | cut -c1-300
tail -n 5 $L/table.log
tail -n 6 $L/joined.log
