# session 7, call 3 (nvidia-h200): issue #8's easy-VQA, one unshared run sized to the call. Call 2
# measured 23.3 steps/s for this setting ("auto" attention, which now sends these 77-token
# sequences to masked SDPA; 8 DataLoader workers), so 11,500 steps fill ~8.2 minutes and the
# cosine decay finishes. Partial test evaluations (20 batches) every 2,000 steps give the curve;
# the final one is the whole test split. Carry: .whl and data/easyvqa.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs_s7c3; mkdir -p $L
timeout -s ABRT 570 python3 -m zoo.cli train recipes/easyvqa/vqa_small_dense.yaml --out /tmp/runs_s7c3/long \
 --set deepspeed=configs/deepspeed/zero2_bf16.json --set micro_batch=128 --set schedule.lr=1.5e-3 \
 --set schedule.warmup_steps=150 --set schedule.steps=11500 --set schedule.max_minutes=8.6 \
 --set checkpoint.every=0 --set data.workers=8 --set eval.every=2000 --set eval.max_batches=20 \
 > $L/long.log 2>&1
cp /tmp/runs_s7c3/long/train.csv /tmp/runs_s7c3/long/eval.csv $OUT/ 2>/dev/null
python3 -c "import json,glob; print(json.dumps({p.split('/')[3]: json.load(open(p)) for p in glob.glob('/tmp/runs_s7c3/*/metrics.json')}, indent=1, default=str))" > $OUT/vqa.json
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | grep -v "^\s*$" | grep -v "step/s," | tail -n 12; tr '\r' '\n' < $f | grep "step/s" | tail -n 1; done > $OUT/logs.txt 2>&1
grep "test" $OUT/logs.txt; python3 -c "
import json; d=json.load(open('$OUT/vqa.json'))
for k,v in sorted(d.items()): print(k, v.get('step'), round(v.get('final_loss',0),4), v.get('eval',{}).get('vqa_accuracy'))"
