# session 3, call 1 (nvidia-h200-x2): GPU0 correctness re-run (lsh fix, tensor windows) then the
# attention benchmark at 16k/64k on the current code; GPU1 one-GPU sparse training steps.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 DS_BUILD_OPS=0
L=/tmp/logs; mkdir -p $L; T0=$(date +%s)
( CUDA_VISIBLE_DEVICES=0 python3 tools/gpu_correctness.py --workers 14 --deadline 190 \
    --patterns lsh,sliding_window,longformer,dilated_window --out $OUT/correctness.json > $L/corr.log 2>&1
  left=$((560 - $(date +%s) + T0))
  CUDA_VISIBLE_DEVICES=0 timeout $left python3 tools/bench_attention.py --no-peers --no-long --ns 16384,65536 \
    --patterns longformer,bigbird,sliding_window,dilated_window,fixed,strided,lsh,anchor \
    --deadline $((left - 25)) --out $OUT/attention > $L/attn.log 2>&1 ) &
( P="--model pixel_base_strided.imagenet64 --seq-len 12288 --warmup 3 --steps 8 --tag h200x1 --out $OUT/train.json"
  CUDA_VISIBLE_DEVICES=1 timeout 210 python3 tools/bench_train.py $P --zero 2 > $L/t_pix_z2.log 2>&1
  CUDA_VISIBLE_DEVICES=1 timeout 180 python3 tools/bench_train.py --model lm_base_longformer --seq-len 16384 --warmup 3 --steps 8 --zero 2 --tag h200x1 --out $OUT/train.json > $L/t_lm_z2.log 2>&1
  left=$((565 - $(date +%s) + T0))
  CUDA_VISIBLE_DEVICES=1 timeout $left python3 tools/bench_train.py $P --zero 3 > $L/t_pix_z3.log 2>&1 ) &
wait
for f in $L/*.log; do echo "=== $f"; grep -v "it/s\]" $f | tail -n 30; done > $OUT/logs.txt 2>&1
tail -c 7000 $OUT/logs.txt
