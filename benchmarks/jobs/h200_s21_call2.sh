# session 21, call 2 (nvidia-h200): call 1 re-checked session 20's routed path at HEAD (GPU test 2 passed,
# 96/96 routed correctness cases, lsh 7.08 / 11.85 ms and anchor 7.74 / 7.53 ms fwd+bwd at 16k / 64k).
# Now LSH buckets and nearest anchors come from one fused Triton projection-argmax kernel
# (kernels/argmax_proj.py) instead of an fp32 GEMM + max/min over 1-4 GB of projections:
# 1. GPU tests (kernel vs torch ids up to near-ties; the routed path's plumbing); 2. the diagnosis
# (s21_route_diag.py: kernel tiles / precisions, sort, profiles); 3. routed correctness (reduced matrix);
# 4. lsh / anchor at 4k / 16k / 64k with --ab (incl. zoo_torch_routing); 5. the peers at 16k. Carry: .whl, .whl_hf.
source benchmarks/jobs/lib.sh
hf_wheels
timeout -s ABRT 150 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_argmax_proj.py \
  tests/test_routed_sorted.py -rA > $L/gpu_tests.log 2>&1
timeout -s ABRT $(left 250) python3 benchmarks/jobs/s21_route_diag.py > $L/diag.log 2>&1
timeout -s ABRT $(left 320) python3 tools/gpu_correctness.py --workers 14 --deadline $(left 310) \
  --lengths 7,257,1000 --patterns lsh,anchor --out $OUT/correctness.json > $L/corr.log 2>&1
timeout -s ABRT $(left 490) python3 tools/bench_attention.py --ab --no-peers --no-long --no-sdpa \
  --ns 4096,16384,65536 --patterns lsh,anchor --deadline $(left 480) --out $OUT/attention > $L/attn.log 2>&1
timeout -s ABRT $(left 575) python3 tools/bench_attention.py --patterns "" --no-sdpa --no-long \
  --deadline $(left 565) --out $OUT/peers > $L/peers.log 2>&1
keep_logs 40
grep -E "passed|failed|Error" $L/gpu_tests.log | tail -n 4; tail -n 3 $L/corr.log
grep -E "^\{" $L/diag.log | grep -v profile | cut -c1-160
grep -E "^\{" $L/attn.log | cut -c1-180 | tail -n 20
grep -E "^\|" $L/peers.log | tail -n 8
