# session 5, call 3 (nvidia-h200; planned in session 4): issue #8's remaining quality runs, three
# trainings sharing the GPU for 6 minutes each (steps sized to what a third of the GPU reaches): the easy-VQA captioner (its captions
# come back in $OUT/cap_records.json: score here with `zoo eval captioner_small_bigbird.easyvqa
# --task captioning --records cap_records.json --caption-metrics BLEU,CIDEr-D`, the GPU machine has no
# Java), easy-VQA answers with a longer budget (session 4: 84.0% after 2,140 steps shared six ways),
# and ListOps with a longer budget (goal 40%). Carry: .whl and data/easyvqa.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs_s5c3; mkdir -p $L; M=6; T=560; Z="timeout -s ABRT $T python3 -m zoo.cli"
G="--set deepspeed=configs/deepspeed/zero2_bf16.json --set eval.every=0 --set schedule.max_minutes=$M"
python3 -m zoo.cli data convert listops --out data/listops --limit 40000 --no-progress > $L/0_data.log 2>&1
$Z train recipes/easyvqa/captioner_small_bigbird.yaml --out /tmp/runs_s5c3/cap $G --set schedule.steps=4000 > $L/cap.log 2>&1 &
$Z train recipes/easyvqa/vqa_small_dense.yaml --out /tmp/runs_s5c3/vqa $G --set schedule.steps=4500 > $L/vqa.log 2>&1 &
$Z train recipes/listops/encoder_small_bigbird.yaml --out /tmp/runs_s5c3/listops $G --set schedule.steps=5000 \
  --set schedule.warmup_steps=300 --set eval.split=test > $L/listops.log 2>&1 &
wait
cp /tmp/runs_s5c3/cap/eval_records.json $OUT/cap_records.json
python3 -c "import json,glob; print(json.dumps({p.split('/')[3]: json.load(open(p)) for p in glob.glob('/tmp/runs_s5c3/*/metrics.json')}, indent=1, default=str))" > $OUT/quality.json
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | grep -v "step/s," | grep -v "^\s*$" | tail -n 12; done > $OUT/logs.txt 2>&1
tail -c 5000 $OUT/logs.txt
