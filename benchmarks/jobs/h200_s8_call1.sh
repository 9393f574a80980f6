# session 8, call 1 (nvidia-h200): issue #8's easy-VQA. Session 7 found a lower peak lr learns
# faster (lr 3e-4: 94.7% after 4,764 steps, partial test 95.3% at 4k) and that the step is bound by
# host work (DeepSpeed ZeRO-2's per-parameter bookkeeping), so runs sharing the GPU are nearly free.
# Four runs at once, 6,000 steps each: lr 3e-4 under ZeRO-2 (control) and under configs/deepspeed/
# bf16.json (no ZeRO: the step-rate A/B on the GPU, same quality expected), lr 1.5e-4, and the wider
# model (dim 256, depth 6, 8 heads; session 6 tried it only at lr 1.5e-3) at lr 3e-4.
# Carry: .whl and data/easyvqa.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs_s8c1; R=/tmp/runs_s8c1; mkdir -p $L
G="--set micro_batch=128 --set schedule.warmup_steps=150 --set schedule.steps=6000 --set schedule.max_minutes=7.6 \
 --set checkpoint.every=0 --set data.workers=4 --set eval.every=1500 --set eval.max_batches=20"
BF="--set deepspeed=configs/deepspeed/bf16.json"
BIG="--set model.overrides.dim=256 --set model.overrides.depth=6 --set model.overrides.num_heads=8"
run() { n=$1; shift; timeout -s ABRT 560 python3 -m zoo.cli train recipes/easyvqa/vqa_small_dense.yaml \
 --out $R/$n $G "$@" > $L/$n.log 2>&1; for f in train.csv eval.csv; do cp $R/$n/$f $OUT/$n.$f; done; }
run z2_lr3e-4 --set deepspeed=configs/deepspeed/zero2_bf16.json --set schedule.lr=3e-4 &
run bf16_lr3e-4 $BF --set schedule.lr=3e-4 &
run bf16_lr1.5e-4 $BF --set schedule.lr=1.5e-4 &
run bf16_big_lr3e-4 $BF $BIG --set schedule.lr=3e-4 &
wait
python3 -c "import json,glob; print(json.dumps({p.split('/')[3]: json.load(open(p)) for p in glob.glob('$R/*/metrics.json')}, indent=1, default=str))" > $OUT/vqa.json
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | grep -v "^\s*$" | grep -v "step/s," | tail -n 10; done > $OUT/logs.txt 2>&1
grep -h "test:" $L/*.log | cut -c1-120; python3 -c "
import json, csv
d=json.load(open('$OUT/vqa.json'))
for k,v in sorted(d.items()):
    rows=list(csv.DictReader(open('$OUT/'+k+'.train.csv'))); a,b=rows[1],rows[-1]
    rate=(int(b['step'])-int(a['step']))/(float(b['elapsed_s'])-float(a['elapsed_s']))
    print(k, v.get('step'), round(v.get('final_loss',0),4), v.get('eval',{}).get('vqa_accuracy'), 'steps/s %.2f' % rate)"
