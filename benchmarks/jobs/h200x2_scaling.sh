# Ready for a session lent nvidia-h200-x2 (none was from session 20 to 29): issue #8's two-GPU scaling on the headline
# setting (pixel_base_strided.imagenet64, 12,288 tokens, micro-batch 32 per GPU, compiled blocks, bf16), ZeRO-2 and
# ZeRO-3: the one-GPU rows first (one per GPU, at once: independent), then each stage on both GPUs through DeepSpeed's
# launcher. scaling = 2-GPU tokens/s over twice the 1-GPU tokens/s of the same stage (tools/results_summary.py's
# scaling() pairs rows of one commit). The only 2-GPU row so far (session 3, micro-batch 1, ZeRO-2: 0.836) ran code
# whose step was host-bound. NVLink multicast stays off (KINDS.md), also in the launcher's processes (it copies this
# environment). Carry: .whl.
source benchmarks/jobs/lib.sh
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
P="--model pixel_base_strided.imagenet64 --seq-len 12288 --micro-batch 32 --tag scaling"
CUDA_VISIBLE_DEVICES=0 timeout -s ABRT $(left 240) $TRAIN $P --zero 2 --out $OUT/x1_z2.json > $L/x1_z2.log 2>&1 &
CUDA_VISIBLE_DEVICES=1 timeout -s ABRT $(left 240) $TRAIN $P --zero 3 --out $OUT/x1_z3.json > $L/x1_z3.log 2>&1 &
wait
R="python3 -m deepspeed.launcher.runner --num_gpus 2"
for z in 2 3; do
  timeout -s ABRT $(left $((240 + 170 * (z - 1)))) $R --master_port 2950$z tools/bench_train.py --warmup 3 --steps 10 \
    --compile $P --zero $z --out $OUT/x2_z$z.json > $L/x2_z$z.log 2>&1
done
keep_logs 30
for f in $OUT/x*_z*.json; do echo "== $f"; train_rows $f; done
python3 - <<'PY'
import glob, json, os
from tools.results_summary import scaling  # pairs each 2-GPU row with the 1-GPU row of its stage and commit
rows = [r for f in sorted(glob.glob(os.environ["OUT"] + "/x*_z*.json")) for r in json.load(open(f))]
print("scaling (2-GPU tokens/s over twice the 1-GPU):", scaling({"rows": rows}))
PY
