# session 28, call 7 (nvidia-h200, short; run as this command line on the warm machine right after call 6):
# lm_base_longformer.enwik8's training step (16k x 16, compiled blocks, ZeRO-2 bf16) on the masks without table
# reads; session 27's row of the same command: 204.8 ms. Carry: .whl.
source benchmarks/jobs/lib.sh
timeout -s ABRT 150 $TRAIN --model lm_base_longformer.enwik8 --seq-len 16384 --micro-batch 16 \
  --tag h200x1_compile_mb16 > $L/lm.log 2>&1
keep_logs 30
train_rows $OUT/train.json
