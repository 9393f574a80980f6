# session 17, call 2 (nvidia-h200): 64-token blocks again after call 1 found torch 2.11's backward
# lowering filters its default tiles (64 x 128) against the blocks before our kernel_options apply
# (NoValidChoicesError on every 64-block backward); kernels/tiles.py now clamps those defaults where
# ZOO_FLEX_BLOCK=64 serves. 1. the GPU test of the 64-block in-graph case (outputs and gradients vs
# the dispatcher and the reference backend); 2. issue #3's fused patterns at 16k with --ab (zoo_block64
# beside the default, max_rel_err against plain mask_mod); 3. lm_base_longformer at 16k x 16, compiled
# ZeRO-2 bf16, 64- then 128-token blocks (227.8 ms, MFU 0.365 in session 16; 0.40 needs <= 208 ms).
# Carry: .whl.
source benchmarks/jobs/lib.sh
timeout -s ABRT 120 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_attention_module.py -k "cuda and sliding_window" -rA > $L/graph_test.log 2>&1
timeout -s ABRT $(left 250) python3 tools/bench_attention.py --no-peers --no-long --no-sdpa --ab --ns 16384 \
  --patterns sliding_window,longformer,bigbird --deadline $(left 230) --out $OUT/attention > $L/attn.log 2>&1
M="--model lm_base_longformer.enwik8 --seq-len 16384 --micro-batch 16"
ZOO_FLEX_BLOCK=64 timeout -s ABRT $(left 420) $TRAIN $M --tag h200x1_compile_mb16_block64 > $L/lm64.log 2>&1
timeout -s ABRT $(left 590) $TRAIN $M --tag h200x1_compile_mb16 > $L/lm.log 2>&1
keep_logs 30
grep -E "PASSED|FAILED|ERROR|passed|failed" $L/graph_test.log | tail -n 6
grep -E "^\|" $L/attn.log | tail -n 14
train_rows $OUT/train.json
