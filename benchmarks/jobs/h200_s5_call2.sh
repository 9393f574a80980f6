# session 5, call 2 (nvidia-h200): (1) issue #3: call 1's 64-token tiles for routed chunks failed in
# torch 2.11's backward lowering (its only default bwd config for bf16 D=64 has 128 tiles, filtered
# before kernel_options apply); now they compile with max_autotune, whose config list has 32/64
# tiles: time them vs 128 (zoo vs zoo_tile128) and profile lsh/anchor. (2) issue #8: session 4 found
# training steps overhead-bound at micro-batch 1 (27 ms of kernels in a 63 ms step): MFU at
# micro-batch 8 (pixel) and 4 (16k LM), sparse vs dense; then the longest trainable sequence
# (activation checkpointing, batch 1) with what time is left. Carry: .whl.
# Outcome: the max_autotune tiles failed too (every backward choice, then an illegal memory access),
# not committed (attention_h200.json run 8); training rows in train_h200.json, lengths in maxlen_h200.json.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs; mkdir -p $L; T0=$(date +%s); left() { echo $(($1 - $(date +%s) + T0)); }
timeout -s ABRT 170 python3 tools/bench_attention.py --ab --no-peers --no-sdpa --no-long --ns 16384 \
  --patterns lsh,anchor --profile lsh,anchor --deadline 120 --out $OUT/attention > $L/s5c2_attn.log 2>&1
B="timeout -s ABRT 100 python3 tools/bench_train.py --warmup 3 --steps 8 --zero 2 --tag h200x1 --out $OUT/train.json"
for a in model dense; do
  $B --model pixel_base_strided.imagenet64 --seq-len 12288 --micro-batch 8 --attention $a > $L/s5c2_px_$a.log 2>&1
  $B --model lm_base_longformer.enwik8 --seq-len 16384 --micro-batch 4 --attention $a > $L/s5c2_lm_$a.log 2>&1
done
for m in lm_base_longformer.enwik8 pixel_base_strided.imagenet64; do
  timeout -s ABRT $(left 575) python3 tools/bench_train.py --model $m --max-len-search --grad-ckpt --zero 2 \
    --search-budget $(( ($(left 570) - 15) / 2 )) --tag h200x1 --out $OUT/maxlen.json > $L/s5c2_maxlen_$m.log 2>&1
done
for f in $L/s5c2_*.log; do echo "=== $f"; tr '\r' '\n' < $f | grep -v "it/s\]" | tail -n 25; done > $OUT/logs.txt 2>&1
tail -c 9000 $OUT/logs.txt
