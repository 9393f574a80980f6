# session 24, call 3 (nvidia-h200): call 2's copies (mask by shifts) win at 64k (Longformer 3.94 vs 4.78 ms fwd+bwd,
# BigBird 4.01 vs 4.36, causal Longformer 2.51 vs 2.99) and lose at 16k (3.92 vs 3.04, 3.98 vs 3.45, 2.51 vs 1.99):
# where between them they start to pay. s24_global_diag.py at 32k. Carry: .whl.
source benchmarks/jobs/lib.sh
S24_NS=32768 timeout -s ABRT 400 python3 benchmarks/jobs/s24_global_diag.py > $L/diag.log 2>&1
keep_logs 30
grep -E "^\{" $L/diag.log | cut -c1-330
