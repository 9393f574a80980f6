# session 3, call 2 (nvidia-h200-x2): one-GPU sparse training steps (call 1's printed nothing in
# 3 min), with phase timestamps, recompile logs and a Python stack dump (SIGABRT) if a run hangs;
# then two-GPU ZeRO-2 / ZeRO-3 launches of the same model with whatever time is left.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 DS_BUILD_OPS=0
export PYTHONFAULTHANDLER=1 TORCH_LOGS=recompiles
L=/tmp/logs; mkdir -p $L; T0=$(date +%s); left() { echo $(($1 - $(date +%s) + T0)); }
T=tools/bench_train.py; P="--model pixel_base_strided.imagenet64 --seq-len 12288 --warmup 3 --steps 8"
CUDA_VISIBLE_DEVICES=0 timeout -s ABRT 300 python3 $T $P --zero 2 --tag h200x1 --out $OUT/train.json > $L/1_pix_z2.log 2>&1 &
( CUDA_VISIBLE_DEVICES=1 timeout -s ABRT 300 python3 $T --model lm_base_longformer.enwik8 --seq-len 16384 --warmup 3 --steps 8 --zero 2 --tag h200x1 --out $OUT/train.json > $L/2_lm_z2.log 2>&1
  CUDA_VISIBLE_DEVICES=1 timeout -s ABRT $(left 330) python3 $T $P --zero 3 --tag h200x1 --out $OUT/train.json > $L/3_pix_z3.log 2>&1 ) &
wait
R="python3 -m deepspeed.launcher.runner --num_gpus 2"
timeout $(left 450) $R --master_port 29501 $T $P --zero 2 --tag h200x2 --out $OUT/train.json > $L/4_x2_z2.log 2>&1
timeout $(left 555) $R --master_port 29502 $T $P --zero 3 --tag h200x2 --out $OUT/train.json > $L/5_x2_z3.log 2>&1
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | grep -v "it/s\]" | tail -n 45; done > $OUT/logs.txt 2>&1
tail -c 9000 $OUT/logs.txt
