# session 22, call 1 (nvidia-h200). Calls 4 / 5 of session 21 (runs 40-43) put lsh at 5.07 / 7.23 ms and anchor
# at 4.07 / 4.17 ms fwd+bwd (16k / 64k), and showed Longformer's / BigBird's global rows by split-KV faster in the
# forward at 64k but slower with gradients; the dispatcher now splits only without gradients (from MIN_TOKENS).
# 1. GPU tests (routing kernel at tf32x3 and bf16x3; split vs one BlockMask); 2. s22_gpu_diag.py (kernel precision,
# split forward at 16k-64k, profiles of the split's backward); 3. lsh / anchor at 16k / 64k with --ab (new alt
# zoo_bf16x3_routing); 4. the peers at 16k (our Longformer / BigBird modules back on the one BlockMask in training).
# Carry: .whl, .whl_hf.
source benchmarks/jobs/lib.sh
hf_wheels
timeout -s ABRT 150 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_argmax_proj.py \
  tests/test_global_rows.py -rA > $L/gpu_tests.log 2>&1
timeout -s ABRT $(left 280) python3 benchmarks/jobs/s22_gpu_diag.py > $L/diag.log 2>&1
timeout -s ABRT $(left 370) python3 tools/bench_attention.py --ab --no-peers --no-long --no-sdpa \
  --ns 16384,65536 --patterns lsh,anchor --deadline $(left 360) --out $OUT/attention > $L/attn.log 2>&1
timeout -s ABRT $(left 430) python3 tools/bench_attention.py --patterns "" --no-sdpa --no-long \
  --deadline $(left 420) --out $OUT/peers > $L/peers.log 2>&1
keep_logs 40
grep -E "passed|failed|Error" $L/gpu_tests.log | tail -n 4
grep -E "^\{" $L/diag.log | grep -v profile | cut -c1-220
grep -E "profile" $L/diag.log | cut -c1-1500
grep -E "^\{" $L/attn.log | cut -c1-180 | tail -n 20
grep -E "^\|" $L/peers.log | tail -n 8
