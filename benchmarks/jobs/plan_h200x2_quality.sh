# PLANNED, NOT RUN YET (written in session 3 when device time ran out): the quality runs of issue #8
# and the re-measurements of session 3's fixes, for one nvidia-h200-x2 call of <= 10 minutes.
# Carry: .whl (../shared/tools/device-wheels) and data/easyvqa (zoo data convert easyvqa --out data/easyvqa).
# Run: bash benchmarks/jobs/plan_h200x2_quality.sh   (then rename it after the session that ran it)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 DS_BUILD_OPS=0
L=/tmp/logs; mkdir -p $L $OUT/runs; T0=$(date +%s); left() { echo $(($1 - $(date +%s) + T0)); }
Z="python3 -m zoo.cli"
python3 -m zoo.cli data convert pydoc --out data/pydoc --no-progress > $L/data.log 2>&1
# GPU 0: did the BlockMask fix shorten the first step (row["first_step"]), and where does a step go?
( CUDA_VISIBLE_DEVICES=0 timeout 200 python3 tools/bench_train.py --model pixel_base_strided.imagenet64 --seq-len 12288 \
    --warmup 3 --steps 8 --zero 2 --profile-steps 3 --tag h200x1 --out $OUT/train.json > $L/0_train.log 2>&1
  for p in strided fixed dense; do  # Sparse Transformer Table 2 at 32x32, equal training time
    CUDA_VISIBLE_DEVICES=0 timeout $(left 560) $Z train recipes/easyvqa32/pixel_small_$p.yaml --out /tmp/runs/px32_$p \
      --set schedule.max_minutes=1.5 > $L/0_px32_$p.log 2>&1
  done ) &
# GPU 1: byte LM sparse vs dense at equal time, then easy-VQA accuracy
( for v in longformer dense; do
    CUDA_VISIBLE_DEVICES=1 timeout 200 $Z train recipes/pydoc/lm_small_$v.yaml --out /tmp/runs/pydoc_$v \
      --set schedule.max_minutes=2 > $L/1_pydoc_$v.log 2>&1
  done
  CUDA_VISIBLE_DEVICES=1 timeout $(left 560) $Z train recipes/easyvqa/vqa_small_dense.yaml --out /tmp/runs/vqa_dense \
    --set deepspeed=configs/deepspeed/zero2_bf16.json --set schedule.steps=3000 --set schedule.max_minutes=2.5 \
    --set eval.every=0 > $L/1_vqa.log 2>&1 ) &
wait
python3 -c "import json,glob; print(json.dumps({p.split('/')[3]: json.load(open(p)) for p in glob.glob('/tmp/runs/*/metrics.json')}, indent=1, default=str))" > $OUT/quality.json
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | grep -v "it/s\]\|step/s\]" | tail -n 25; done > $OUT/logs.txt 2>&1
tail -c 6000 $OUT/logs.txt
