# session 17, call 2 (nvidia-h200), prepared in session 16 (not run yet): the training step with fused
# patterns on 64-token blocks (ZOO_FLEX_BLOCK=64) against 128 (the default), same process, profiled.
# lm_base_longformer at 16k x 16: every layer is a fused causal window of 128-512 keys (at 128 keys,
# 50% of the computed pairs are allowed on 128-token blocks, 67% on 64); its step was 227.8 ms (MFU
# 0.365; 0.40 needs <= 208 ms), attention kernels 62.7 ms. pixel_base_strided at 12,288 x 32: its
# sliding layers (191 keys) are fused, its dilated ones class heads (unchanged); 287.5 ms (MFU 0.408).
# Compiled ZeRO-2 bf16. Run call 1 first: it checks the 64-token blocks for correctness. Carry: .whl.
source benchmarks/jobs/lib.sh
P="--model pixel_base_strided.imagenet64 --seq-len 12288 --micro-batch 32"
M="--model lm_base_longformer.enwik8 --seq-len 16384 --micro-batch 16"
ZOO_FLEX_BLOCK=64 timeout -s ABRT 170 $TRAIN $M --tag h200x1_compile_mb16_block64 > $L/lm64.log 2>&1
timeout -s ABRT $(left 330) $TRAIN $M --tag h200x1_compile_mb16 > $L/lm.log 2>&1
ZOO_FLEX_BLOCK=64 timeout -s ABRT $(left 460) $TRAIN $P --tag h200x1_compile_mb32_block64 > $L/pix64.log 2>&1
timeout -s ABRT $(left 585) $TRAIN $P --tag h200x1_compile_mb32 > $L/pix.log 2>&1
keep_logs 30
train_rows $OUT/train.json
