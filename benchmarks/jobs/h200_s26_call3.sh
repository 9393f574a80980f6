# session 26, call 3 (nvidia-h200, ~500 s of device budget left): the attention table at the session's code, after
# calls 1-2: the backward's 32-row tiles on 64-token blocks (kernels/tiles.py BWD_TILES_32; not in the joined and
# copies calls) and fixed joined from 1,024 tokens. Static patterns at 16k and 64k, then lsh and anchor at 16k
# (their routed bands take the new tiles, unmeasured in call 2) as far as the deadline allows. Carry: .whl.
source benchmarks/jobs/lib.sh
timeout -s ABRT 250 python3 tools/bench_attention.py --no-peers --no-long --no-sdpa --ns 16384,65536 \
  --patterns dilated_window,strided,sliding_window,longformer,fixed,bigbird --deadline 235 --out $OUT/attention \
  > $L/attn.log 2>&1
S26_CASE=tiles S26_NS=16384 S26_PATTERNS=lsh,anchor S26_VARIANTS=base,bwd_m32 S26_DEADLINE=$(left 275) \
  timeout -s ABRT $(left 300) python3 benchmarks/jobs/s26_diag.py > $L/routed.log 2>&1
keep_logs 20
grep -E "^\{" $L/attn.log | cut -c1-200 | tail -n 14
grep -E "^\{" $L/routed.log | cut -c1-200
