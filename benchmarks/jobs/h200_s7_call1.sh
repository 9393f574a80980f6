# session 7, call 1 (nvidia-h200): issue #8's easy-VQA, one unshared long run. Session 6's best
# (96.29%) was two runs sharing the GPU with the data decoded in the training process
# (data.workers 0: ~31 ms per batch of 128 on a CPU core, the step rate's bound). Here 8 DataLoader
# workers, a 400-step probe to measure the step rate, then the schedule sized to the clock so the
# cosine decay finishes instead of being cut. Carry: .whl and data/easyvqa.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
T0=$(date +%s); L=/tmp/logs_s7c1; mkdir -p $L
R=recipes/easyvqa/vqa_small_dense.yaml
G="--set deepspeed=configs/deepspeed/zero2_bf16.json --set eval.every=0 --set micro_batch=128 \
 --set schedule.lr=1.5e-3 --set schedule.warmup_steps=150 --set checkpoint.every=0 --set data.workers=8"
timeout 120 python3 -m zoo.cli train $R --out /tmp/runs_s7c1/probe $G --set schedule.steps=400 \
 --set eval.max_batches=1 > $L/probe.log 2>&1
RATE=$(tr '\r' '\n' < $L/probe.log | grep -o '[0-9.]*step/s' | tail -n 1 | sed 's/step\/s//')
LEFT=$(( 560 - ($(date +%s) - T0) ))   # seconds left in this call's budget
# training time = what is left minus ~45 s of start-up and ~20 s of test evaluation
STEPS=$(python3 -c "print(int(float('${RATE:-20}') * ($LEFT - 70) * 0.95))")
echo "probe rate ${RATE} step/s, ${LEFT}s left -> ${STEPS} steps" | tee $OUT/plan.txt
timeout -s ABRT $(( LEFT - 5 )) python3 -m zoo.cli train $R --out /tmp/runs_s7c1/long $G \
 --set schedule.steps=$STEPS --set schedule.max_minutes=$(python3 -c "print(round(($LEFT - 60) / 60, 2))") \
 > $L/long.log 2>&1
python3 -c "import json,glob; print(json.dumps({p.split('/')[3]: json.load(open(p)) for p in glob.glob('/tmp/runs_s7c1/*/metrics.json')}, indent=1, default=str))" > $OUT/vqa.json
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | grep -v "^\s*$" | grep -v "step/s," | tail -n 8; tr '\r' '\n' < $f | grep "step/s" | tail -n 2; done > $OUT/logs.txt 2>&1
cat $OUT/plan.txt; python3 -c "
import json; d=json.load(open('$OUT/vqa.json'))
for k,v in sorted(d.items()): print(k, v.get('step'), round(v.get('final_loss',0),4), v.get('eval',{}).get('vqa_accuracy'))"
