# session 6, call 3 (nvidia-h200): issue #8's easy-VQA, the two best configurations of calls 1-2 for
# longer, two runs sharing the GPU. Call 2 (six runs sharing): linear 8-pixel patches cut by the clock
# at 3,293 of 5,000 steps reached 90.9% (the best), conv stem on 4-pixel patches 88.9% at 3,000;
# wider/deeper models, a higher lr and the conv stem on 8-pixel patches were worse (78.6-81.1%).
# Carry: .whl and data/easyvqa.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs_s6c3; mkdir -p $L
M=7.5; Z="timeout -s ABRT 530 python3 -m zoo.cli"
G="--set deepspeed=configs/deepspeed/zero2_bf16.json --set eval.every=0 --set schedule.max_minutes=$M \
 --set schedule.steps=7000 --set micro_batch=128 --set schedule.lr=1.5e-3 --set schedule.warmup_steps=150 --set checkpoint.every=0"
R=recipes/easyvqa/vqa_small_dense.yaml
run() { n=$1; shift; $Z train $R --out /tmp/runs_s6c3/$n $G "$@" > $L/$n.log 2>&1; }
run base_7k &
run conv_p4_7k --set model.overrides.stem=conv --set model.overrides.patch_size=4 &
wait
python3 -c "import json,glob; print(json.dumps({p.split('/')[3]: json.load(open(p)) for p in glob.glob('/tmp/runs_s6c3/*/metrics.json')}, indent=1, default=str))" > $OUT/vqa.json
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | grep -v "step/s," | grep -v "^\s*$" | tail -n 6; done > $OUT/logs.txt 2>&1
python3 -c "
import json; d=json.load(open('$OUT/vqa.json'))
for k,v in sorted(d.items()): print(k, v.get('step'), round(v.get('final_loss',0),4), v.get('eval',{}).get('vqa_accuracy'))"
