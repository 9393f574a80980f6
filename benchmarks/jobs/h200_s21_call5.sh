# session 21, call 5 (nvidia-h200; prepared, not run: no device time left). Longformer's and BigBird's
# bidirectional global rows by split-KV (kernels/global_rows.py): the pattern's BlockMask without them, and
# the rows once per 1,024-key split in a second FlexAttention call, merged by log-sum-exp, so no query block
# walks every key block (run 27: Longformer 117 useful TFLOP/s at 64k vs 224 for its window alone).
# 1. GPU test (split vs one BlockMask at 16k, padded or not, forward and gradients); 2. correctness of both
# patterns past one split (2,100 and 4,097 tokens) and below it; 3. longformer / bigbird at 16k / 64k with --ab
# (zoo_one_blockmask: ZOO_SPLIT_GLOBAL_ROWS=0) and plain masks; 4. the peers at 16k. Carry: .whl, .whl_hf.
source benchmarks/jobs/lib.sh
hf_wheels
timeout -s ABRT 150 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_global_rows.py -rA > $L/gpu_tests.log 2>&1
timeout -s ABRT $(left 280) python3 tools/gpu_correctness.py --workers 14 --deadline $(left 270) \
  --lengths 257,1000,2100,4097 --patterns longformer,bigbird --out $OUT/correctness.json > $L/corr.log 2>&1
timeout -s ABRT $(left 430) python3 tools/bench_attention.py --ab --no-peers --no-long --no-sdpa \
  --ns 16384,65536 --patterns longformer,bigbird --deadline $(left 420) --out $OUT/attention > $L/attn.log 2>&1
timeout -s ABRT $(left 490) python3 tools/bench_attention.py --patterns "" --no-sdpa --no-long \
  --deadline $(left 480) --out $OUT/peers > $L/peers.log 2>&1
keep_logs 40
grep -E "passed|failed|Error" $L/gpu_tests.log | tail -n 4; tail -n 4 $L/corr.log
grep -E "^\{" $L/attn.log | cut -c1-180 | tail -n 20
grep -E "^\|" $L/peers.log | tail -n 8
