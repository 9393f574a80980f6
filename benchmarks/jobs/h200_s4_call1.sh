# session 4, call 1 (nvidia-h200, one GPU): (1) GPU correctness of every fused pattern after the
# BlockMask builder moved to kernels/block_mask.py (compiled tile reduction, never run on a GPU
# before); (2) does the first training step still compile for minutes (bench_train's first_step),
# and where a step goes (--profile-steps); (3) attention speed with the window-as-constant A/B
# (rows impl=zoo_const_window) and the 64k rows the last run's deadline cut.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs; mkdir -p $L; T0=$(date +%s); left() { echo $(($1 - $(date +%s) + T0)); }
timeout -s ABRT 200 python3 tools/gpu_correctness.py --workers 14 --deadline 170 --lengths 7,257,1000 \
  --patterns dense,sliding_window,longformer,bigbird,learned,union,intersection,prefix_lm \
  --out $OUT/correctness.json > $L/1_corr.log 2>&1
timeout -s ABRT 190 python3 tools/bench_train.py --model pixel_base_strided.imagenet64 --seq-len 12288 \
  --warmup 3 --steps 8 --zero 2 --profile-steps 3 --tag h200x1 --out $OUT/train.json > $L/2_train.log 2>&1
timeout -s ABRT $(left 570) python3 tools/bench_attention.py --no-peers --no-long --ns 16384,65536 \
  --patterns sliding_window,longformer,strided,fixed,dilated_window,bigbird,lsh,anchor \
  --deadline $(left 540) --out $OUT/attention > $L/3_attn.log 2>&1
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | grep -v "it/s\]" | tail -n 40; done > $OUT/logs.txt 2>&1
tail -c 9000 $OUT/logs.txt
