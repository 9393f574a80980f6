# call C (nvidia-h200-x4): attention kernels (GPU0) + 1-GPU sparse training (GPU1-3), then 2/4-GPU scaling
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 DS_BUILD_OPS=0
L=/tmp/logs; mkdir -p $L
P="--model pixel_base_strided.imagenet64 --seq-len 12288 --warmup 3 --steps 8"
T="tools/bench_train.py"
CUDA_VISIBLE_DEVICES=0 timeout 255 python3 tools/bench_attention.py --no-peers --no-long --ns 16384,65536 --deadline 230 --out $OUT/attention > $L/attn.log 2>&1 &
CUDA_VISIBLE_DEVICES=1 timeout 255 python3 $T $P --zero 2 --out $OUT/train.json --tag h200x1 > $L/t_pix_z2.log 2>&1 &
CUDA_VISIBLE_DEVICES=2 timeout 255 python3 $T --model lm_base_longformer --seq-len 16384 --warmup 3 --steps 8 --zero 2 --out $OUT/train_lm.json --tag h200x1 > $L/t_lm_z2.log 2>&1 &
CUDA_VISIBLE_DEVICES=3 timeout 255 python3 $T $P --zero 3 --out $OUT/train_z3.json --tag h200x1 > $L/t_pix_z3.log 2>&1 &
wait
R="python3 -m deepspeed.launcher.runner"
timeout 110 $R --include localhost:0,1 --master_port 29501 $T $P --zero 2 --out $OUT/train.json --tag h200x2 > $L/t2_z2.log 2>&1 &
timeout 110 $R --include localhost:2,3 --master_port 29502 $T $P --zero 3 --out $OUT/train_z3.json --tag h200x2 > $L/t2_z3.log 2>&1 &
wait
timeout 95 $R --num_gpus 4 --master_port 29503 $T $P --zero 2 --out $OUT/train.json --tag h200x4 > $L/t4_z2.log 2>&1
timeout 95 $R --num_gpus 4 --master_port 29504 $T $P --zero 3 --out $OUT/train_z3.json --tag h200x4 > $L/t4_z3.log 2>&1
for f in $L/*.log; do echo "=== $f"; grep -v "step/s" $f | tail -n 14; done > $OUT/logs.txt 2>&1
tail -c 6000 $OUT/logs.txt
