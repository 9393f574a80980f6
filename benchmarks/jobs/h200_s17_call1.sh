# session 17, call 1 (nvidia-h200), prepared in session 16 (not run yet): fused static patterns on
# 64-token BlockMask blocks (ZOO_FLEX_BLOCK=64, opt-in; kernels/tiles.py adds 64 x 64 forward tiles).
# 1. GPU tests of the in-graph path (the new case: sliding window on 64-token blocks, outputs and
# gradients vs the dispatcher and the reference backend); 2. the bf16 correctness matrix of the fused
# patterns on 64-token blocks vs the fp64 dense oracle (lengths 7 and 100 stay on 128-token blocks: fewer
# than 128 queries; 1001 is odd, so dilation 2 runs fused rather than as class heads); 3. issue #3's fused patterns at 16k and 64k
# with --ab: a zoo_block64 row beside each default row, same process (sliding window needs 2.37 ms
# at 16k for 200 useful TFLOP/s; 128-token blocks: 2.45 ms, 193). Carry: .whl.
source benchmarks/jobs/lib.sh
timeout -s ABRT 180 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_attention_module.py -k cuda -rA > $L/graph_test.log 2>&1
ZOO_FLEX_BLOCK=64 timeout -s ABRT $(left 330) python3 tools/gpu_correctness.py --workers 14 --deadline $(left 300) \
  --lengths 7,100,257,1001 --dtypes bfloat16 \
  --patterns dense,sliding_window,dilated_window_r2,dilated_window_per_head,longformer,bigbird,union,intersection,prefix_lm,learned \
  --out $OUT/correctness.json > $L/corr.log 2>&1
timeout -s ABRT $(left 585) python3 tools/bench_attention.py --no-peers --no-long --no-sdpa --ab --ns 16384,65536 \
  --patterns sliding_window,longformer,bigbird --deadline $(left 560) --out $OUT/attention > $L/attn.log 2>&1
keep_logs 40
grep -E "PASSED|FAILED|ERROR|passed|failed" $L/graph_test.log | tail -n 12
tail -n 14 $L/corr.log
grep -E "^\|" $L/attn.log | tail -n 20
