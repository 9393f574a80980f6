# session 5, call 4 (nvidia-h200, the last ~7 minutes of the budget): (1) issue #3: where LSH and
# anchor spend their time at 16k on 128-token tiles (kernel profile; call 2's profile died with the
# 64-tile attempt); (2) issue #8: call 2's length search was compile-bound (a trial takes 30-76 s,
# peak memory only 2.7 GiB at 8k), so start it near the expected limit instead of doubling up from 4k.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs_s5c4; mkdir -p $L; T0=$(date +%s); left() { echo $(($1 - $(date +%s) + T0)); }
timeout -s ABRT 90 python3 tools/bench_attention.py --no-peers --no-sdpa --no-long --ns 16384 \
  --patterns lsh,anchor --profile lsh,anchor --deadline 60 --out $OUT/attention > $L/attn.log 2>&1
S="python3 tools/bench_train.py --max-len-search --grad-ckpt --zero 2 --tag h200x1 --out $OUT/maxlen.json"
timeout -s ABRT 130 $S --model pixel_base_strided.imagenet64 --seq-len 196608 --search-budget 115 > $L/maxlen_px.log 2>&1
timeout -s ABRT $(left 385) $S --model lm_base_longformer.enwik8 --seq-len 262144 --trial-timeout 150 \
  --search-budget $(left 375) > $L/maxlen_lm.log 2>&1
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | grep -v "it/s\]" | tail -n 40; done > $OUT/logs.txt 2>&1
tail -c 9000 $OUT/logs.txt
