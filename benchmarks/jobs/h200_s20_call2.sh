# session 20, call 2 (nvidia-h200): call 1 found the sorted path no faster than the component path (lsh 18.98
# vs 18.94 ms at 16k): its profile puts 8.7 ms in index_select / index_add (one thread block per 128-byte
# row) and 4.6 ms in routing. 1. s20_route_diag.py: routing phases and row-gather variants at 16k / 64k;
# 2. lsh and anchor with the gathers as compiled permutation gathers both ways (routed._Permute) vs the
# component path (--ab, outputs and gradients compared), profiles at 16k; 3. the routed correctness
# matrix (anchor was cut by call 1's deadline). Carry: .whl.
source benchmarks/jobs/lib.sh
timeout -s ABRT 100 python3 benchmarks/jobs/s20_route_diag.py > $L/diag.log 2>&1
timeout -s ABRT $(left 400) python3 tools/bench_attention.py --ab --no-peers --no-long --no-sdpa \
  --ns 4096,16384,65536 --patterns lsh,anchor --profile lsh,anchor --deadline $(left 380) --out $OUT/attention \
  > $L/attn.log 2>&1
timeout -s ABRT $(left 560) python3 tools/gpu_correctness.py --workers 14 --deadline $(left 545) \
  --lengths 1,7,128,257,1000 --patterns anchor,anchor_chunk64,lsh,lsh_chunk64 --out $OUT/correctness.json \
  > $L/corr.log 2>&1
keep_logs 40
grep "^{" $L/diag.log | cut -c1-160
grep -E "^\{|ms  x" $L/attn.log | cut -c1-200 | tail -n 40
tail -n 8 $L/corr.log
