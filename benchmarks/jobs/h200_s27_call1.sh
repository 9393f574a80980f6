# prepared in session 26 for the next session (nvidia-h200): the backward's 32-row steps on 64-token blocks
# (kernels/tiles.py BWD_TILES_32, session 26: sliding window 2.14 -> 2.01 ms fwd+bwd at 16k in the attention
# benchmark) reach the compiled models' in-graph FlexAttention calls on 64-token blocks (their fused sliding
# windows; class pieces inside a graph keep 128-token blocks, so no change there). Their training steps were
# not re-measured in session 26 (device budget spent): the pixel headline (12,288 x 32) and the LM (16k x 16),
# each with and without them (ZOO_FLEX_BWD32=0) in one call. Carry: .whl.
source benchmarks/jobs/lib.sh
sw() { if [ $1 = 0 ]; then export ZOO_FLEX_BWD32=0; else unset ZOO_FLEX_BWD32; fi; }  # unset: a default row
for v in 1 0; do  # with them first here, without them first for the LM
  sw $v; timeout -s ABRT $(left $((140 * (2 - v)))) $TRAIN --model pixel_base_strided.imagenet64 \
    --seq-len 12288 --micro-batch 32 --tag h200x1_compile_mb32 > $L/pix_$v.log 2>&1
done
for v in 0 1; do
  sw $v; timeout -s ABRT $(left $((280 + 140 * (1 + v)))) $TRAIN --model lm_base_longformer.enwik8 \
    --seq-len 16384 --micro-batch 16 --tag h200x1_compile_mb16 > $L/lm_$v.log 2>&1
done
keep_logs 30
train_rows $OUT/train.json
