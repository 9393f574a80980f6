# session 25, call 1 (nvidia-h200): 1. the attention table for strided, fixed and dilated (last measured in run 24,
# session 16, before 64-token blocks and the single-group masks without division), Longformer and BigBird at 16k and
# 64k; 2. the copies' row slots with their pad rows on the last global row's mask (full tiles, Plan.pad_rows) vs
# masked out (ZOO_COPIES_PAD_ROWS=0) vs the one BlockMask, Longformer and BigBird at 32k and 64k, with the profile
# at 64k; 3. the copies' GPU tests, unpadded cases (session 24 never ran them all). Carry: .whl.
source benchmarks/jobs/lib.sh
timeout -s ABRT 230 python3 tools/bench_attention.py --no-peers --no-long --no-sdpa --ns 16384,65536 \
  --patterns strided,fixed,dilated_window,longformer,bigbird --deadline 220 --out $OUT/attention > $L/attn.log 2>&1
S24_NS=32768,65536 S24_PROFILE=1 S24_MIN_TOKENS=32768 S24_ONLY=longformer,bigbird S24_VARIANTS=one,copies,copies_nopad \
  timeout -s ABRT $(left 460) python3 benchmarks/jobs/s24_global_diag.py > $L/diag.log 2>&1
timeout -s ABRT $(left 575) python3 -m pytest -q -p no:cacheprovider -p no:logging -m gpu tests/test_global_copies.py \
  -k "False" -rA > $L/gpu_tests.log 2>&1
keep_logs 30
grep -E "^\{" $L/attn.log | cut -c1-200 | tail -n 12
grep -E "^\{" $L/diag.log | cut -c1-330
grep -E "passed|failed|Error|assert" $L/gpu_tests.log | tail -n 8
