# session 9, call 2 (nvidia-h200): issue #3's residue classes as heads (kernels/classes.py): the
# strided column and dilated residue classes run on a (B*H, r, n/r, D) view instead of transpose
# gathers. (1) correctness against the dense oracle, forward and gradients, at length 1920 where
# the view applies (1920 / 5 and 1920 / 3) and at 7, 257, 1000 where it does not; (2) strided at
# 16k and 64k: zoo (class heads) vs zoo_class_gather (session 8's transposes, ZOO_NO_CLASS_HEADS=1)
# vs zoo_eager_plumbing, in one process; lsh and anchor re-timed after the cache fix (runs 12-13's
# rows ran the bug); (3) issue #8's MFU: pixel_base_strided.imagenet64 at micro-batch 8, class
# heads vs class gathers. Carry: .whl.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs; mkdir -p $L; T0=$(date +%s); left() { echo $(($1 - $(date +%s) + T0)); }
timeout -s ABRT 190 python3 tools/gpu_correctness.py --workers 12 --deadline 170 --lengths 7,257,1000,1920 \
  --patterns strided,strided_split,dilated_window --out $OUT/correctness.json > $L/s9c2_corr.log 2>&1
timeout -s ABRT $(left 400) python3 tools/bench_attention.py --ab --no-peers --no-long --no-sdpa --ns 16384,65536 \
  --patterns strided,lsh,anchor --deadline $(left 370) --out $OUT/attention > $L/s9c2_attn.log 2>&1
B="python3 tools/bench_train.py --model pixel_base_strided.imagenet64 --seq-len 12288 --micro-batch 8 --warmup 3 --steps 8 --zero 2 --out $OUT/train.json"
timeout -s ABRT $(left 490) $B --tag h200x1_class_heads > $L/s9c2_train_heads.log 2>&1
ZOO_NO_CLASS_HEADS=1 timeout -s ABRT $(left 580) $B --tag h200x1_class_gather > $L/s9c2_train_gather.log 2>&1
for f in $L/s9c2_*.log; do echo "=== $f"; tr '\r' '\n' < $f | grep -v "it/s\]" | tail -n 30; done > $OUT/logs.txt 2>&1
tail -n 22 $L/s9c2_corr.log; grep -h "zoo\|flex_mask" $L/s9c2_attn.log | tail -n 14
python3 -c "
import json; rows=json.load(open('$OUT/train.json'))
for r in rows: print(r.get('tag'), r.get('step_ms'), r.get('mfu'), r.get('tokens_per_s'))"
