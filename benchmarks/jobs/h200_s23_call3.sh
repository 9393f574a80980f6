# session 23, call 3 (nvidia-h200): call 1 found anchor host-bound (6.6 ms of host enqueueing per fwd+bwd
# against 3.9 ms of GPU work at B x N = 65,536; as CUDA graphs 3.95 ms, stable), which explains its run-to-run
# variance; lsh is not (4.6 vs 4.7 ms). s23_host_profile.py: where anchor's and lsh's host time goes (cProfile,
# torch.profiler's launches and aten ops). Carry: .whl.
source benchmarks/jobs/lib.sh
timeout -s ABRT $(left 240) python3 benchmarks/jobs/s23_host_profile.py > $L/prof.log 2>&1
keep_logs 20
grep -E "^\{" $L/prof.log | cut -c1-1500
