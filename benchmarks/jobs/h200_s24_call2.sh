# session 24, call 2 (nvidia-h200): call 1's copies lost to the one BlockMask at 16k (Longformer 4.30 vs 3.05 ms
# fwd+bwd) and barely won at 64k (4.35 vs 4.48): the copies' mask found a copy and its row by // and %, evaluated per
# element of every partial tile. Now by shifts (copy slots and SPLIT powers of two), and no division for the head
# group. 1. GPU tests (call 1's five failures were the test's own recorder: the compiled function kept the first
# test's); 2. s24_global_diag.py again; 3. Longformer, BigBird, sliding window at 16k / 64k. Carry: .whl.
source benchmarks/jobs/lib.sh
timeout -s ABRT 240 python3 -m pytest -q -p no:cacheprovider -p no:logging -m gpu tests/test_global_copies.py -rA \
  > $L/gpu_tests.log 2>&1
timeout -s ABRT $(left 420) python3 benchmarks/jobs/s24_global_diag.py > $L/diag.log 2>&1
timeout -s ABRT $(left 570) python3 tools/bench_attention.py --no-peers --no-long --no-sdpa --ns 16384,65536 \
  --patterns longformer,bigbird,sliding_window --deadline $(left 560) --out $OUT/attention > $L/attn.log 2>&1
keep_logs 30
grep -E "passed|failed|Error|assert" $L/gpu_tests.log | tail -n 8
grep -E "^\{" $L/diag.log | cut -c1-330
grep -E "^\{" $L/attn.log | cut -c1-180 | tail -n 8
