# session 7, call 2 (nvidia-h200): why does the tiny easy-VQA model (7M parameters, 77 tokens,
# micro-batch 128) train at only ~18 steps/s (55 ms/step) on an H200? Three short runs, one at a
# time: A = attention forced through FlexAttention (the path call 1 took), B = "auto", which now
# sends short sequences (Nq x Nk <= 256 x 256) to masked SDPA on GPUs too, C = B under cProfile.
# Rates come from train.csv (steps 100..400, after compilation). Carry: .whl and data/easyvqa.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs_s7c2; mkdir -p $L
R=recipes/easyvqa/vqa_small_dense.yaml
G="--set deepspeed=configs/deepspeed/zero2_bf16.json --set eval.every=0 --set micro_batch=128 \
 --set schedule.lr=1.5e-3 --set schedule.warmup_steps=150 --set checkpoint.every=0 --set data.workers=8 \
 --set schedule.steps=400 --set eval.at_end=false --set log.every=20"
timeout 150 python3 -m zoo.cli train $R --out /tmp/runs_s7c2/A_flex $G --set model.overrides.attn_backend=flex > $L/A.log 2>&1
timeout 150 python3 -m zoo.cli train $R --out /tmp/runs_s7c2/B_auto $G > $L/B.log 2>&1
timeout 150 python3 -m cProfile -o $OUT/C.prof -m zoo.cli train $R --out /tmp/runs_s7c2/C_prof $G --set schedule.steps=300 > $L/C.log 2>&1
python3 - <<'PY' | tee $OUT/rates.txt
import csv, glob, os
for d in sorted(glob.glob('/tmp/runs_s7c2/*')):
    rows = [r for r in csv.DictReader(open(d + '/train.csv'))]
    a = next(r for r in rows if int(r['step']) >= 100); b = rows[-1]
    rate = (int(b['step']) - int(a['step'])) / (float(b['elapsed_s']) - float(a['elapsed_s']))
    print(f"{os.path.basename(d)}: {rate:.2f} steps/s ({1000 / rate:.1f} ms/step), loss {float(b['loss']):.4f} at {b['step']}")
PY
python3 -c "
import pstats; p = pstats.Stats('$OUT/C.prof'); p.sort_stats('tottime').print_stats(30); p.sort_stats('cumulative').print_stats(70)" > $OUT/profile.txt 2>&1
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | grep -v "^\s*$" | grep -v "step/s," | tail -n 6; done > $OUT/logs.txt 2>&1
cat $OUT/rates.txt
