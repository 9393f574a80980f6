# session 19, call 1 (nvidia-h200), prepared in session 18 (not run yet): 64-token BlockMask blocks are the
# default on sm90 since session 18 (911caee), per-head masks included since the tile-table fix (de32c7a),
# whose checks ran on an H100 only. 1. the GPU tests of the compiled tile reduction (tests/test_block_mask.py,
# per-head at odd block counts) and of the in-graph path; 2. the bf16 matrix of the per-head patterns at 128
# (the shortest on 64-token blocks), 257, 385 and 1,001 tokens on the H200; 3. lm_base_longformer at 16k x 16 on the default (every layer on 64,
# its per-head dilated top layers included; session 18 timed them on 128: 217.1 ms) against
# ZOO_FLEX_BLOCK=128, same process: the headline mfu_lm_base_16k. Carry: .whl.
source benchmarks/jobs/lib.sh
timeout -s ABRT 170 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_block_mask.py tests/test_attention_module.py \
  -k cuda -rA > $L/gpu_tests.log 2>&1
timeout -s ABRT 100 python3 tools/gpu_correctness.py --workers 14 --deadline 85 --lengths 128,257,385,1001 --dtypes bfloat16 \
  --patterns dilated_window_per_head,union,learned --out $OUT/correctness.json > $L/corr.log 2>&1
timeout -s ABRT $(left 420) $TRAIN --model lm_base_longformer.enwik8 --seq-len 16384 --micro-batch 16 --tag h200x1_compile_mb16 > $L/lm.log 2>&1
ZOO_FLEX_BLOCK=128 timeout -s ABRT $(left 590) $TRAIN --model lm_base_longformer.enwik8 --seq-len 16384 --micro-batch 16 \
  --tag h200x1_compile_mb16_block128 > $L/lm128.log 2>&1
keep_logs 30
grep -E "passed|failed" $L/gpu_tests.log | tail -n 3
tail -n 6 $L/corr.log
train_rows $OUT/train.json
