# session 28, call 1 (nvidia-h200): what limits the patterns that miss issue #3's goals (benchmarks/jobs/s28_diag.py:
# times, GPU time by kind of kernel, copy bandwidth, Longformer without its globals, global copies' SPLIT at 16k).
# Carry: .whl.
source benchmarks/jobs/lib.sh
S28_DEADLINE=${S28_DEADLINE:-300} timeout -s ABRT $(left 380) python3 benchmarks/jobs/s28_diag.py > $L/limits.log 2>&1
cp $OUT/s28_limits.json /dev/null 2>&1 || echo "no s28_limits.json"
keep_logs 30
grep -E "^\{" $L/limits.log | cut -c1-400
