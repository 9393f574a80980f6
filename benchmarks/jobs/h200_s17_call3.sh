# session 17, call 3 (nvidia-h200), prepared in session 16 (not run yet): lm_base_longformer at 16k with
# twice the micro-batch (32; x16 peaked at 52 GiB), so the per-step costs that do not grow with it (the
# host issuing DeepSpeed's optimizer step, ~14 ms wall of the 227.8 ms x16 step, and the forward's
# head start) are spread over twice the tokens; on 128- and on 64-token blocks (ZOO_FLEX_BLOCK=64, keep
# it only if call 1 and 2 found it correct and faster). Compiled ZeRO-2 bf16. Carry: .whl.
source benchmarks/jobs/lib.sh
M="--model lm_base_longformer.enwik8 --seq-len 16384 --micro-batch 32"
timeout -s ABRT 280 $TRAIN $M --tag h200x1_compile_mb32 > $L/lm.log 2>&1
ZOO_FLEX_BLOCK=64 timeout -s ABRT $(left 585) $TRAIN $M --tag h200x1_compile_mb32_block64 > $L/lm64.log 2>&1
keep_logs 30
train_rows $OUT/train.json
