# session 29, call 1 (nvidia-h200): issue #8's pixel bits/dim at equal wall-clock (Sparse Transformer Table 2's
# comparison) on this code: quality_h200.json's pixel32 / pixel64 rows ran session 4's code (fixed's attention then
# 15 useful TFLOP/s, now 202-269), and fixed's 64x64 run ended with test loss 0.178 against a training loss of 0.101
# (strided 0.082 / 0.091, dense 0.122 / 0.121): this checks that gap on kernels the correctness matrix now covers.
# The six runs share the GPU (32x32: 4.5 minutes each, 64x64: 6 minutes each, the budgets of session 4), so each
# comparison's runs compete under the same conditions. Carry: .whl and data/easyvqa.
source benchmarks/jobs/lib.sh
R=/tmp/runs
px() { side=$1; p=$2; mins=$3
  timeout -s ABRT $(left 585) python3 -m zoo.cli train recipes/easyvqa$side/pixel_small_$p.yaml --out $R/px${side}_$p \
    --set checkpoint.every=0 --set data.workers=2 --set schedule.max_minutes=$mins --set log.every=100 \
    > $L/px${side}_$p.log 2>&1; }
for p in strided fixed dense; do px 32 $p 4.5 & px 64 $p 6 & done
wait
for d in $R/*; do n=$(basename $d); cp $d/train.csv $OUT/$n.train.csv; cp $d/metrics.json $OUT/$n.metrics.json; done
keep_logs 20
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
