# Sourced by the jobs from session 17 on (run from the tree root with $OUT set): the carried wheels
# installed outside the tree, the tree on PYTHONPATH, a deadline helper, the logs' tails under $OUT,
# the compiled ZeRO-2 bf16 training-step benchmark ($TRAIN) with a short print of its rows, and the
# Hugging Face peers' wheels (hf_wheels) and the runs' metrics of a quality job (run_metrics).
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs; mkdir -p $L; T0=$(date +%s)
TRAIN="python3 tools/bench_train.py --warmup 3 --steps 10 --profile-steps 1 --compile --zero 2 --out $OUT/train.json"
left() { echo $(($1 - $(date +%s) + T0)); }  # seconds left until $1 seconds after the job started
keep_logs() { for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | tail -n ${1:-30}; done > $OUT/logs.txt 2>&1; }
hf_wheels() {  # the Hugging Face peers' wheels (carried as .whl_hf) where transformers is missing
  python3 -c "import transformers" 2>/dev/null || python3 -m pip install -q --no-index --no-deps --no-compile \
    --no-cache-dir --target /tmp/hfsite .whl_hf/*.whl
  export PYTHONPATH=$PYTHONPATH:/tmp/hfsite
}
train_rows() {  # $1: a bench_train --out JSON
  python3 - "$1" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1])):
    p = r.get("profile") or {}
    print(r["model"][:14], r.get("tag"), r.get("env"), r.get("step_ms"), r.get("mfu"), r.get("mem_peak_gib"),
          (r.get("error") or "")[:300])
    print("   ", p.get("gpu_busy_ms_per_step"), p.get("gpu_ms_by_kind"))
PY
}
run_metrics() {  # $1: a folder of `zoo train` runs: each run's train.csv under $OUT, all metrics.json as $OUT/quality.json
  for d in $1/*; do cp $d/train.csv $OUT/$(basename $d).train.csv; done
  python3 - "$1" <<'PY'
import csv, glob, json, os, sys
out, runs = os.environ["OUT"], {}
for m in sorted(glob.glob(sys.argv[1] + "/*/metrics.json")):
    n = os.path.basename(os.path.dirname(m))
    d = runs[n] = json.load(open(m))
    rows = list(csv.DictReader(open(f"{out}/{n}.train.csv")))
    a, b = rows[min(1, len(rows) - 1)], rows[-1]  # from the second logged step: the first one compiles
    dt = float(b["elapsed_s"]) - float(a["elapsed_s"])
    d["steps_per_s"] = round((int(b["step"]) - int(a["step"])) / dt, 3) if dt > 0 else None
    print(n, d.get("step"), round(d.get("final_loss", 0), 4), d.get("eval"), "steps/s", d["steps_per_s"])
json.dump(runs, open(f"{out}/quality.json", "w"), indent=1)
PY
}
