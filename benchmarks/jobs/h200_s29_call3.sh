# session 29, call 3 (nvidia-h200): issue #8's byte LM bits/char, sparse vs dense at equal wall-clock, on this code
# (quality_h200.json's pystdlib row ran session 4's code): lm_small_{longformer,dense} on CPython's stdlib sources
# (converted here from the machine's own Python), the recipes' 2,048-byte context at micro-batch 16 and an 8,192-byte
# context at micro-batch 4 (the same bytes per step), where attention is a larger share of the step. The four runs
# share the GPU for 6 minutes each (session 4's budget). Carry: .whl.
source benchmarks/jobs/lib.sh
R=/tmp/runs
python3 -m zoo.cli data convert pystdlib --out /tmp/pystdlib --no-progress > $L/data.log 2>&1 || exit 1
lm() { p=$1; n=$2; mb=$3
  timeout -s ABRT $(left 585) python3 -m zoo.cli train recipes/pystdlib/lm_small_$p.yaml --out $R/lm${n}_$p \
    --set data.path=/tmp/pystdlib --set checkpoint.every=0 --set schedule.max_minutes=6 --set log.every=100 \
    --set model.overrides.max_seq_len=$n --set micro_batch=$mb > $L/lm${n}_$p.log 2>&1; }
for p in longformer dense; do lm $p 2048 16 & lm $p 8192 4 & done
wait
head -n 3 $L/data.log
for d in $R/*; do n=$(basename $d); cp $d/train.csv $OUT/$n.train.csv; cp $d/metrics.json $OUT/$n.metrics.json; done
keep_logs 12
python3 - <<'PY'
import csv, glob, json, os
for m in sorted(glob.glob(os.environ["OUT"] + "/*.metrics.json")):
    n = os.path.basename(m).split(".")[0]
    d = json.load(open(m))
    rows = list(csv.DictReader(open(m.replace(".metrics.json", ".train.csv"))))
    a, b = rows[1], rows[-1]
    rate = (int(b["step"]) - int(a["step"])) / (float(b["elapsed_s"]) - float(a["elapsed_s"]))
    print(n, d.get("step"), round(d.get("final_loss", 0), 4), d.get("eval"), "steps/s %.2f" % rate)
PY
