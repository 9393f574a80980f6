# session 25, call 2 (nvidia-h200): Sparse Transformer fixed joined into one FlexAttention call over its natural keys
# and copies of its summary columns (kernels/joined.py; call 1 measured the components at 5.27 / 10.05 ms fwd+bwd at
# 16k / 64k, 102 / 197 useful TFLOP/s). 1. the joined path's GPU tests (fp32 against the fp64 reference); 2.
# s25_joined_diag.py (joined vs components, same process, with profiles at 64k); 3. the attention table's fixed rows;
# 4. the copies' padded GPU tests (call 1 ran the unpadded four). Carry: .whl.
source benchmarks/jobs/lib.sh
timeout -s ABRT 150 python3 -m pytest -q -p no:cacheprovider -p no:logging -m gpu tests/test_joined_keys.py -rA \
  > $L/gpu_joined.log 2>&1
timeout -s ABRT $(left 330) python3 benchmarks/jobs/s25_joined_diag.py > $L/diag.log 2>&1
timeout -s ABRT $(left 400) python3 tools/bench_attention.py --no-peers --no-long --no-sdpa --ns 16384,65536 \
  --patterns fixed --deadline $(left 390) --out $OUT/attention > $L/attn.log 2>&1
timeout -s ABRT $(left 585) python3 -m pytest -q -p no:cacheprovider -p no:logging -m gpu tests/test_global_copies.py \
  -k "True" -rA > $L/gpu_copies.log 2>&1
keep_logs 30
grep -E "passed|failed|Error|assert" $L/gpu_joined.log | tail -n 8
grep -E "^\{" $L/diag.log | cut -c1-330
grep -E "^\{" $L/attn.log | cut -c1-200 | tail -n 4
grep -E "passed|failed|Error|assert" $L/gpu_copies.log | tail -n 8
