# session 23, call 1 (nvidia-h200). Issue #3: anchor varies 4.07-5.69 ms fwd+bwd between runs of the same kernels
# (runs 40-46), and our modules at B = 1 vary 1.3-6.0 ms (host-bound). 1. s23_host_diag.py: lsh / anchor at
# 16k / 64k, five timings in one process, eager and as CUDA graphs, each call split into wall / host / GPU time
# with its sync points; 2. the peers at 16k, eager and as CUDA graphs (bench_attention's new *_graphed rows).
# In the background (one CPU core): LRA's 96,000 ListOps training examples into data/listops96k for call 2
# (issue #8), kept if the machine stays warm. Carry: .whl, .whl_hf.
source benchmarks/jobs/lib.sh
hf_wheels
[ -f data/listops96k/DONE ] || (rm -rf data/listops96k; nice -n 10 python3 -m zoo.cli data convert listops \
  --out data/listops96k --no-progress > $L/lo_data.log 2>&1 && touch data/listops96k/DONE) &
DATA=$!
timeout -s ABRT $(left 270) python3 benchmarks/jobs/s23_host_diag.py > $L/diag.log 2>&1
timeout -s ABRT $(left 470) python3 tools/bench_attention.py --patterns "" --no-sdpa --no-long \
  --deadline $(left 460) --out $OUT/peers > $L/peers.log 2>&1
timeout $(left 560) tail --pid=$DATA -f /dev/null; ls data/listops96k | wc -l; ls data/listops96k/DONE
keep_logs 40
grep -E "^\{" $L/diag.log | cut -c1-900
grep -E "^\{" $L/peers.log | cut -c1-300
