# session 28, call 6 (nvidia-h200, short): pixel_base_strided.imagenet64's training step (12,288 x 32, compiled
# blocks, ZeRO-2 bf16) on the masks without table reads (call 5: its strided(192) 4.69 -> 3.49 ms fwd+bwd in the
# attention benchmark); session 27's row of the same command: 270.6 ms. Carry: .whl.
source benchmarks/jobs/lib.sh
timeout -s ABRT $(left 230) $TRAIN --model pixel_base_strided.imagenet64 --seq-len 12288 --micro-batch 32 \
  --tag h200x1_compile_mb32 > $L/pix.log 2>&1
keep_logs 30
train_rows $OUT/train.json
