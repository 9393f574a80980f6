# session 18, call 2 (nvidia-h200), prepared in session 17 (not run yet; run call 1 first): the
# training steps on 64-token blocks (ZOO_FLEX_BLOCK=64, per-head patterns on 128) against the default
# 128, one after the other in this call, profiled: lm_base_longformer at 16k x 16 (session 17: 211.2 vs 220.0 ms with
# every layer on 64, its per-head dilated top layers included) and pixel_base_strided at 12,288 x 32
# (its sliding layers fused, its dilated ones class heads, unchanged; 287.5 ms, MFU 0.408, session 16).
# If both are faster with losses equal and call 1 passed, 64 becomes the default on measured GPUs.
# Compiled ZeRO-2 bf16. Carry: .whl.
source benchmarks/jobs/lib.sh
P="--model pixel_base_strided.imagenet64 --seq-len 12288 --micro-batch 32"
M="--model lm_base_longformer.enwik8 --seq-len 16384 --micro-batch 16"
ZOO_FLEX_BLOCK=64 timeout -s ABRT 150 $TRAIN $P --tag h200x1_compile_mb32_block64 > $L/pix64.log 2>&1
timeout -s ABRT $(left 270) $TRAIN $P --tag h200x1_compile_mb32 > $L/pix.log 2>&1
ZOO_FLEX_BLOCK=64 timeout -s ABRT $(left 430) $TRAIN $M --tag h200x1_compile_mb16_block64 > $L/lm64.log 2>&1
timeout -s ABRT $(left 590) $TRAIN $M --tag h200x1_compile_mb16 > $L/lm.log 2>&1
keep_logs 30
train_rows $OUT/train.json
