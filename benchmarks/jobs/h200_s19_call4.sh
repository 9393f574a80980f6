# session 19, call 4 (nvidia-h200): 1. the GPU test of the fused ZeRO gradient norm (call 3's run
# failed to start: its subprocess lost the carried wheels' PYTHONPATH); 2. the fused norm's rows
# again: pixel_base_strided at 12,288 x 32 (the pixel headline, last timed with DeepSpeed's norm loop)
# and lm_base_longformer at 16k x 16 a second time (call 3: 205.3 ms; call 1, DeepSpeed's loop,
# 212.8 ms; call 3's same-call control 207.5 ms). ZOO_GEMM_AUTOTUNE (call 3: the same cuBLAS
# kernels, no fused GELU) is gone from the code. Carry: .whl.
source benchmarks/jobs/lib.sh
timeout -s ABRT 90 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_grad_norm.py -rA > $L/gpu_tests.log 2>&1
timeout -s ABRT $(left 250) $TRAIN --model pixel_base_strided.imagenet64 --seq-len 12288 --micro-batch 32 \
  --tag h200x1_compile_mb32 > $L/pix.log 2>&1
timeout -s ABRT $(left 400) $TRAIN --model lm_base_longformer.enwik8 --seq-len 16384 --micro-batch 16 \
  --tag h200x1_compile_mb16 > $L/lm.log 2>&1
keep_logs 30
grep -E "passed|failed" $L/gpu_tests.log | tail -n 3
train_rows $OUT/train.json
