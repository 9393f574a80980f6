# session 24, call 1 (nvidia-h200): Longformer's and BigBird's global tokens as copies inside the pattern's one
# BlockMask call (kernels/global_copies.py: key copies once per 1,024 queries, row copies once per 1,024 keys), so no
# program walks every block. 1. GPU tests: copies vs the one BlockMask (16k, bf16) and vs the fp64 reference (4k,
# fp32), padded or not, causal or not; 2. s24_global_diag.py (copies vs one BlockMask vs split rows, per SPLIT, with
# a profile at 64k); 3. every static pattern at 16k / 64k (attention table). Carry: .whl.
source benchmarks/jobs/lib.sh
timeout -s ABRT 240 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_global_copies.py -rA \
  > $L/gpu_tests.log 2>&1
timeout -s ABRT $(left 400) python3 benchmarks/jobs/s24_global_diag.py > $L/diag.log 2>&1
timeout -s ABRT $(left 570) python3 tools/bench_attention.py --no-peers --no-long --no-sdpa --ns 16384,65536 \
  --patterns longformer,bigbird,sliding_window --deadline $(left 560) --out $OUT/attention > $L/attn.log 2>&1
keep_logs 30
grep -E "passed|failed|Error" $L/gpu_tests.log | tail -n 4
grep -E "^\{" $L/diag.log | cut -c1-400
grep -E "^\{" $L/attn.log | cut -c1-180 | tail -n 8
