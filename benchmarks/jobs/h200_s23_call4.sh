# session 23, call 4 (nvidia-h200): call 3's host profile put most of anchor's host time (6.6 ms per fwd+bwd against
# 3.9 ms of GPU work at 16k) in torch.compile's per-call wrappers, 10 of its 11 compiled calls the sorted path's
# gathers (one per tensor each way). They now share one compiled call per direction (q, k, v in; out, lse back).
# 1. GPU tests: modules captured as CUDA graphs replay exactly on new inputs (test_cuda_graphs.py); the sorted path's
# compiled plumbing equals its eager plumbing and the component path (test_routed_sorted.py); 2. s23_host_diag.py
# again (host / GPU split, eager vs graphs); 3. lsh / anchor at 16k / 64k; 4. the peers at 16k. Carry: .whl, .whl_hf.
source benchmarks/jobs/lib.sh
hf_wheels
timeout -s ABRT 200 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_cuda_graphs.py \
  tests/test_routed_sorted.py -rA > $L/gpu_tests.log 2>&1
timeout -s ABRT $(left 330) python3 benchmarks/jobs/s23_host_diag.py > $L/diag.log 2>&1
timeout -s ABRT $(left 420) python3 tools/bench_attention.py --no-peers --no-long --no-sdpa \
  --ns 16384,65536 --patterns lsh,anchor --deadline $(left 410) --out $OUT/attention > $L/attn.log 2>&1
timeout -s ABRT $(left 480) python3 tools/bench_attention.py --patterns "" --no-sdpa --no-long \
  --deadline $(left 470) --out $OUT/peers > $L/peers.log 2>&1
keep_logs 30
grep -E "passed|failed|Error" $L/gpu_tests.log | tail -n 4
grep -E "^\{" $L/diag.log | grep -v host_ | cut -c1-420
grep -E "^\{" $L/attn.log | cut -c1-180 | tail -n 6
grep -E "^\{" $L/peers.log | cut -c1-160
