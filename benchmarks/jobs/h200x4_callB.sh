# call B (nvidia-h200-x4): correctness (GPU0,1) + ListOps (GPU0,1) + attention speed (GPU2) + training speed (GPU3)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 TORCHINDUCTOR_COMPILE_THREADS=1 DS_BUILD_OPS=0
A=dense,sliding_window,dilated_window,dilated_window_per_head,longformer,bigbird,strided,strided_split
B=fixed,fixed_split,learned,union,intersection,prefix_lm,lsh,anchor
L=/tmp/logs; mkdir -p $L
CUDA_VISIBLE_DEVICES=0 python3 tools/gpu_correctness.py --workers 26 --deadline 450 --patterns $A --out $OUT/corr_a.json > $L/corr_a.log 2>&1 &
CUDA_VISIBLE_DEVICES=1 python3 tools/gpu_correctness.py --workers 26 --deadline 450 --patterns $B --out $OUT/corr_b.json > $L/corr_b.log 2>&1 &
( CUDA_VISIBLE_DEVICES=2 python3 tools/bench_attention.py --peers-first --profile lsh,anchor --deadline 330 --out $OUT/attention > $L/attn.log 2>&1
  CUDA_VISIBLE_DEVICES=2 timeout 100 python3 tools/bench_generate.py --device cuda --models pixel_small_strided.cifar10 --batch-size 16 --positions 3 --steps 16 --steps-no-cache 2 --out $OUT/generate.json > $L/gen.log 2>&1 ) &
( for m in "pixel_base_strided.imagenet64 --seq-len 12288" "lm_base_longformer --seq-len 16384"; do for a in "" "--attention dense"; do
    CUDA_VISIBLE_DEVICES=3 timeout 115 python3 tools/bench_train.py --model $m $a --zero 2 --warmup 3 --steps 8 --out $OUT/train_1gpu.json --tag h200x1 >> $L/train.log 2>&1
  done; done ) &
( python3 -m zoo.cli data convert listops --out /tmp/lo --limit 40000 --no-progress > $L/lo_data.log 2>&1
  i=0; for m in bigbird longformer anchor lsh; do
    CUDA_VISIBLE_DEVICES=$((i % 2)) python3 -m zoo.cli train recipes/listops/encoder_small_$m.yaml --out /tmp/runs/$m --set data.path=/tmp/lo \
      --set schedule.steps=2500 --set schedule.warmup_steps=250 --set schedule.max_minutes=5 --set eval.every=0 --set eval.split=test \
      --set checkpoint.every=0 --set log.every=100 > $L/lo_$m.log 2>&1 &
    i=$((i + 1)); done; wait
  python3 -c "import json,glob; print(json.dumps({p.split('/')[3]: json.load(open(p)) for p in glob.glob('/tmp/runs/*/metrics.json')}, indent=1, default=str))" > $OUT/listops.json ) &
wait
for f in $L/*.log; do echo "=== $f"; tail -n 25 $f; done > $OUT/logs.txt 2>&1
tail -c 5000 $OUT/logs.txt
