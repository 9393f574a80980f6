# session 6, call 1 (nvidia-h200): (1) issue #3: routed LSH / anchor at 16k with the whole call under
# torch.compile (bench_attention --ab "zoo_compiled" rows) against the eager dispatcher, same process;
# (2) issue #8: an easy-VQA sweep (goal 99%; session 5 stopped at 86.4% with train loss = test loss,
# and a CPU probe put shape questions at 41% while colour questions were at 99.5%): six runs sharing
# the GPU, 3,000 steps of 128 each, control vs conv stem vs dihedral augmentation vs 4-pixel patches.
# Carry: .whl and data/easyvqa.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs_s6c1; mkdir -p $L
timeout -s ABRT 170 python3 tools/bench_attention.py --ns 16384 --patterns lsh,anchor --ab --no-peers --no-long \
  --no-sdpa --deadline 120 --out $OUT/attention > $L/attn.log 2>&1
tail -n 8 $L/attn.log
M=6.5; Z="timeout -s ABRT 420 python3 -m zoo.cli"
G="--set deepspeed=configs/deepspeed/zero2_bf16.json --set eval.every=0 --set schedule.max_minutes=$M \
 --set schedule.steps=3000 --set micro_batch=128 --set schedule.lr=1.5e-3 --set schedule.warmup_steps=150 --set checkpoint.every=0"
R=recipes/easyvqa/vqa_small_dense.yaml
run() { n=$1; shift; $Z train $R --out /tmp/runs_s6c1/$n $G "$@" > $L/$n.log 2>&1; }
run base &
run conv --set model.overrides.stem=conv &
run aug --set data.options.augment=dihedral &
run conv_aug --set model.overrides.stem=conv --set data.options.augment=dihedral &
run p4_aug --set model.overrides.patch_size=4 --set data.options.augment=dihedral &
run conv_p4_aug --set model.overrides.stem=conv --set model.overrides.patch_size=4 --set data.options.augment=dihedral &
wait
python3 -c "import json,glob; print(json.dumps({p.split('/')[3]: json.load(open(p)) for p in glob.glob('/tmp/runs_s6c1/*/metrics.json')}, indent=1, default=str))" > $OUT/vqa.json
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | grep -v "step/s," | grep -v "^\s*$" | tail -n 6; done > $OUT/logs.txt 2>&1
python3 -c "
import json; d=json.load(open('$OUT/vqa.json'))
for k,v in sorted(d.items()): print(k, v.get('step'), round(v.get('final_loss',0),4), v.get('eval',{}).get('vqa_accuracy'))"
