# session 16, call 4 (nvidia-h200), written in session 16 after call 3: repeat the pixel x32 A/B in the
# other order (ZOO_GRAPH_VIEWS=1 first, then the copies), then the bf16 correctness matrix of
# h200_s16_call1.sh (every static and dynamic pattern, lengths 7/257/1000, fwd+grads vs the fp64 dense
# oracle) on the sm90 backward tiles. Call 1's tile sweep was dropped for device time. Carry: .whl.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs4; mkdir -p $L; T0=$(date +%s); left() { echo $(($1 - $(date +%s) + T0)); }
B="python3 tools/bench_train.py --warmup 3 --steps 10 --profile-steps 1 --compile --zero 2 --out $OUT/train.json"
P="--model pixel_base_strided.imagenet64 --seq-len 12288 --micro-batch 32"
ZOO_GRAPH_VIEWS=1 timeout -s ABRT 130 $B $P --tag h200x1_compile_mb32_graph_views > $L/pix_views.log 2>&1
timeout -s ABRT $(left 250) $B $P --tag h200x1_compile_mb32 > $L/pix.log 2>&1
ZOO_GRAPH_VIEWS=1 timeout -s ABRT $(left 580) python3 tools/gpu_correctness.py --workers 14 --deadline $(left 550) --lengths 7,257,1000 --dtypes bfloat16 \
  --patterns dense,sliding_window,dilated_window,dilated_window_r2,dilated_window_per_head,longformer,bigbird,strided,strided_split,fixed,fixed_split,union,intersection,prefix_lm,lsh,anchor \
  --out $OUT/correctness.json > $L/corr.log 2>&1
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | tail -n 30; done > $OUT/logs.txt 2>&1
tail -n 25 $L/corr.log
python3 -c "
import json; rows=json.load(open('$OUT/train.json'))
for r in rows:
    p = r.get('profile') or {}
    print(r.get('tag'), r.get('env'), r.get('step_ms'), r.get('mfu'), r.get('loss'), (r.get('error') or '')[:300], p.get('gpu_busy_ms_per_step'), p.get('gpu_ms_by_kind',{}).get('copy'))"
