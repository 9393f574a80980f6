# session 28, call 3 (nvidia-h200): the appends' A/B again with call 2's Function as appended_v1 beside the default
# since (compiled gather-and-cat forward, index_copy_ backward) and session 27's one graph (s28_diag.py
# S28_CASE=appended2); then issue #3's table rows of the patterns that take the appends (fixed joined at 16k / 64k,
# Longformer's and BigBird's global copies at 64k, their one BlockMask at 16k). Carry: .whl.
source benchmarks/jobs/lib.sh
S28_CASE=appended2 S28_DEADLINE=${S28_DEADLINE:-220} timeout -s ABRT $(left 280) python3 benchmarks/jobs/s28_diag.py \
  > $L/appended2.log 2>&1
timeout -s ABRT $(left 480) python3 tools/bench_attention.py --no-peers --no-long --no-sdpa --ns 16384,65536 \
  --patterns fixed,longformer,bigbird --deadline $(($(left 460) - 10)) --out $OUT/attention > $L/table.log 2>&1
keep_logs 25
grep -E "^\{" $L/appended2.log | cut -c1-330
tail -n 12 $L/table.log
