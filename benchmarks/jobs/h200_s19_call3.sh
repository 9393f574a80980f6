# session 19, call 3 (nvidia-h200): lm_base_longformer at 16k x 16 lost ~16 ms per step of GPU idle in
# DeepSpeed's optimizer step (call 1's profile: gpu_idle step 16.4 ms; host_vs_gpu step 13 ms of host
# for ~1 ms of kernels). 1. the GPU test of the fused ZeRO gradient norm (zoo/train/grad_norm.py)
# against DeepSpeed's loop; 2. the LM on the default (fused norm) against ZOO_FUSED_GRAD_NORM=0, same
# call; 3. ZOO_GEMM_AUTOTUNE=1 (inductor's autotuned GEMMs, which can take the bias + GELU that now
# cost ~23 ms per step as separate kernels) on top of the fused norm, killed at the call's deadline.
# Carry: .whl.
source benchmarks/jobs/lib.sh
timeout -s ABRT 90 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_grad_norm.py -rA > $L/gpu_tests.log 2>&1
timeout -s ABRT $(left 250) $TRAIN --model lm_base_longformer.enwik8 --seq-len 16384 --micro-batch 16 \
  --tag h200x1_compile_mb16 > $L/lm.log 2>&1
ZOO_FUSED_GRAD_NORM=0 timeout -s ABRT $(left 390) $TRAIN --model lm_base_longformer.enwik8 --seq-len 16384 \
  --micro-batch 16 --tag h200x1_compile_mb16_ds_grad_norm > $L/lm_dsnorm.log 2>&1
ZOO_GEMM_AUTOTUNE=1 timeout -s ABRT $(left 585) $TRAIN --model lm_base_longformer.enwik8 --seq-len 16384 \
  --micro-batch 16 --tag h200x1_compile_mb16_gemm_autotune > $L/lm_autotune.log 2>&1
keep_logs 30
grep -E "passed|failed" $L/gpu_tests.log | tail -n 3
train_rows $OUT/train.json
python3 -c "
import json
for r in json.load(open('$OUT/train.json')): print(r.get('tag'), r.get('fused_grad_norm'), json.dumps(r.get('host_vs_gpu', {}).get('step')), r['profile']['gpu_idle']['by_phase'] if r.get('profile') else '')"
