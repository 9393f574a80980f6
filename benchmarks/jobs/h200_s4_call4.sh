# session 4, call 4 (nvidia-h200, one GPU, ~5 min left): the kernels now bake window sizes in as
# constants (kernel_mask_parts): (1) GPU correctness of the two patterns that changed; (2) one-GPU
# training steps of lm_base_longformer at 16k (ten window sizes: ten kernel compiles now) and the
# pixel model, for the new step times and the first-step cost of that trade.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs; mkdir -p $L
timeout -s ABRT 110 python3 tools/gpu_correctness.py --workers 14 --deadline 90 --lengths 7,257,1000 \
  --patterns sliding_window,longformer --out $OUT/correctness.json > $L/1_corr.log 2>&1
timeout -s ABRT 120 python3 tools/bench_train.py --model lm_base_longformer.enwik8 --seq-len 16384 \
  --warmup 3 --steps 8 --zero 2 --tag h200x1 --out $OUT/train.json > $L/2_train_lm.log 2>&1
timeout -s ABRT 70 python3 tools/bench_train.py --model pixel_base_strided.imagenet64 --seq-len 12288 \
  --warmup 3 --steps 8 --zero 2 --tag h200x1 --out $OUT/train.json > $L/3_train_px.log 2>&1
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | grep -v "it/s\]" | tail -n 22; done > $OUT/logs.txt 2>&1
tail -c 6000 $OUT/logs.txt
