# session 6, call 2 (nvidia-h200): issue #8's easy-VQA sweep, second round. Call 1 (3,000 steps of
# 128, six runs sharing the GPU): linear patches 87.1%, dihedral augmentation 82.5% (worse: the
# model underfits, train loss ~ test loss), 4-pixel patches + augmentation 83.3%, and every conv-stem
# run died on BatchNorm's fp32 running stats under DeepSpeed bf16 (the stem now uses LayerNorm2d).
# This round: the conv stem (8- and 4-pixel patches, lr 1.5e-3 and 3e-3), a wider/deeper model with
# and without it, and the linear control for 5,000 steps. Carry: .whl and data/easyvqa.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs_s6c2; mkdir -p $L
M=7; Z="timeout -s ABRT 500 python3 -m zoo.cli"
G="--set deepspeed=configs/deepspeed/zero2_bf16.json --set eval.every=0 --set schedule.max_minutes=$M \
 --set schedule.steps=3000 --set micro_batch=128 --set schedule.lr=1.5e-3 --set schedule.warmup_steps=150 --set checkpoint.every=0"
R=recipes/easyvqa/vqa_small_dense.yaml
BIG="--set model.overrides.dim=256 --set model.overrides.depth=6 --set model.overrides.num_heads=8"
run() { n=$1; shift; $Z train $R --out /tmp/runs_s6c2/$n $G "$@" > $L/$n.log 2>&1; }
run conv --set model.overrides.stem=conv &
run conv_p4 --set model.overrides.stem=conv --set model.overrides.patch_size=4 &
run conv_lr3e-3 --set model.overrides.stem=conv --set schedule.lr=3e-3 &
run conv_big --set model.overrides.stem=conv $BIG &
run big $BIG &
run base_5k --set schedule.steps=5000 &
wait
python3 -c "import json,glob; print(json.dumps({p.split('/')[3]: json.load(open(p)) for p in glob.glob('/tmp/runs_s6c2/*/metrics.json')}, indent=1, default=str))" > $OUT/vqa.json
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | grep -v "step/s," | grep -v "^\s*$" | tail -n 6; done > $OUT/logs.txt 2>&1
python3 -c "
import json; d=json.load(open('$OUT/vqa.json'))
for k,v in sorted(d.items()): print(k, v.get('step'), round(v.get('final_loss',0),4), v.get('eval',{}).get('vqa_accuracy'))"
