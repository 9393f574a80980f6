# session 24, call 4 (nvidia-h200): the copies cost ~1.8 ms more than the sliding window at every length (Longformer
# 3.92-3.94 ms fwd+bwd at 16k-64k; profile at 64k: backward kernel 2.40 ms with the slices' gradient sums fused into
# it). Does the plumbing apart from FlexAttention's compiled call (ZOO_COPIES_APART=1) change that? Longformer at 16k
# and 64k. Carry: .whl.
source benchmarks/jobs/lib.sh
S24_NS=16384,65536 S24_ONLY=longformer timeout -s ABRT 300 python3 benchmarks/jobs/s24_global_diag.py > $L/diag.log 2>&1
keep_logs 30
grep -E "^\{" $L/diag.log | cut -c1-330
