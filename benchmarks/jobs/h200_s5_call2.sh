# PLANNED, NOT RUN YET (written in session 4): issue #8's training-speed gaps on one nvidia-h200,
# one call of <= 10 minutes. Session 4 found the steps overhead-bound at micro-batch 1 (27 ms of GPU
# kernels in a 63 ms pixel step), so: (1) MFU vs micro-batch, sparse and dense; (2) the longest
# trainable sequence (activation checkpointing, batch 1). Carry: .whl. Rename after running it.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs; mkdir -p $L; T0=$(date +%s); left() { echo $(($1 - $(date +%s) + T0)); }
B="timeout -s ABRT 100 python3 tools/bench_train.py --warmup 3 --steps 8 --zero 2 --tag h200x1 --out $OUT/train.json"
for mb in 1 4 8; do
  $B --model pixel_base_strided.imagenet64 --seq-len 12288 --micro-batch $mb > $L/px_s_$mb.log 2>&1
  $B --model pixel_base_strided.imagenet64 --seq-len 12288 --micro-batch $mb --attention dense > $L/px_d_$mb.log 2>&1
done
$B --model lm_base_longformer.enwik8 --seq-len 16384 --micro-batch 4 --profile-steps 2 > $L/lm_s_4.log 2>&1
$B --model lm_base_longformer.enwik8 --seq-len 16384 --micro-batch 4 --attention dense > $L/lm_d_4.log 2>&1
for m in lm_base_longformer.enwik8 pixel_base_strided.imagenet64; do
  timeout -s ABRT $(left 560) python3 tools/bench_train.py --model $m --max-len-search --grad-ckpt --zero 2 \
    --search-budget $(( ($(left 560) - 20) / 2 )) --tag h200x1 --out $OUT/maxlen.json > $L/maxlen_$m.log 2>&1
done
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | grep -v "it/s\]" | tail -n 6; done > $OUT/logs.txt 2>&1
tail -c 7000 $OUT/logs.txt
