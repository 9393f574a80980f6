# session 4, call 2 (nvidia-h200, one GPU): issue #8's quality runs at equal wall-clock. Six
# trainings share the GPU at once (time-sliced, so each group's runs compete under the same
# conditions): pixel bits/dim on easy-VQA images as 32x32 sequences (strided / fixed / dense,
# the Sparse Transformer paper's Table 2 comparison), a byte LM on CPython's pydoc topics
# (longformer vs dense), and easy-VQA answer accuracy. schedule.max_minutes starts after the
# compiling first step. Carry: .whl and data/easyvqa (zoo data convert easyvqa --out data/easyvqa).
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs; mkdir -p $L; M=4.5; T=540
Z="timeout -s ABRT $T python3 -m zoo.cli"
python3 -m zoo.cli data convert pydoc --out data/pydoc --no-progress > $L/0_data.log 2>&1
for p in strided fixed dense; do
  $Z train recipes/easyvqa32/pixel_small_$p.yaml --out /tmp/runs/px32_$p --set schedule.max_minutes=$M > $L/px32_$p.log 2>&1 &
done
for v in longformer dense; do
  $Z train recipes/pydoc/lm_small_$v.yaml --out /tmp/runs/pydoc_$v --set schedule.max_minutes=$M > $L/pydoc_$v.log 2>&1 &
done
$Z train recipes/easyvqa/vqa_small_dense.yaml --out /tmp/runs/vqa_dense --set deepspeed=configs/deepspeed/zero2_bf16.json \
  --set schedule.steps=3000 --set schedule.max_minutes=$M --set eval.every=0 > $L/vqa_dense.log 2>&1 &
wait
python3 -c "import json,glob; print(json.dumps({p.split('/')[3]: json.load(open(p)) for p in glob.glob('/tmp/runs/*/metrics.json')}, indent=1, default=str))" > $OUT/quality.json
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | grep -v "it/s\]\|step/s\]" | tail -n 25; done > $OUT/logs.txt 2>&1
tail -c 8000 $OUT/logs.txt
