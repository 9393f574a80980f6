# session 29, call 2 (nvidia-h200): Longformer's global tokens with copies of only one side (the rows or the key
# columns) against both and the one BlockMask, at 16k and 64k (benchmarks/jobs/s29_diag.py), then issue #3's table
# rows for longformer at 16k / 64k on the dispatcher's choice. Carry: .whl.
source benchmarks/jobs/lib.sh
S29_DEADLINE=${S29_DEADLINE:-300} timeout -s ABRT $(left 380) python3 benchmarks/jobs/s29_diag.py > $L/globals.log 2>&1
timeout -s ABRT $(left 540) python3 tools/bench_attention.py --no-peers --no-long --no-sdpa --ns 16384,65536 \
  --patterns longformer --deadline $(($(left 520) - 10)) --out $OUT/attention > $L/table.log 2>&1
keep_logs 25
grep -E "^\{" $L/globals.log | cut -c1-330
tail -n 5 $L/table.log
