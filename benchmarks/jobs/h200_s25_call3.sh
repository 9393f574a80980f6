# session 25, call 3 (nvidia-h200): call 2's joined fixed reached 252 useful TFLOP/s at 64k but 161 at 16k (3.34 ms
# fwd+bwd): the same diagnosis on 128-token blocks (ZOO_FLEX_BLOCK=128; 64 is the default on the H200). Carry: .whl.
source benchmarks/jobs/lib.sh
ZOO_FLEX_BLOCK=128 timeout -s ABRT 300 python3 benchmarks/jobs/s25_joined_diag.py > $L/diag.log 2>&1
keep_logs 30
grep -E "^\{" $L/diag.log | cut -c1-400
