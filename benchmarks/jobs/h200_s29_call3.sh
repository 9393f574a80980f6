# session 29, call 3 (nvidia-h200): issue #8's byte LM bits/char, sparse vs dense at equal wall-clock, on this code
# (quality_h200.json's pystdlib row ran session 4's code): lm_small_{longformer,dense} on CPython's stdlib sources
# (converted here from the machine's own Python), the recipes' 2,048-byte context at micro-batch 16 and an 8,192-byte
# context at micro-batch 4 (the same bytes per step), where attention is a larger share of the step. The four runs
# share the GPU for 6 minutes each (session 4's budget). Carry: .whl. (Its summary moved to lib.sh's
# run_metrics after the run.) S29_SCHEDULE replaces the schedule's flags (call 4).
source benchmarks/jobs/lib.sh
R=/tmp/runs
python3 -m zoo.cli data convert pystdlib --out /tmp/pystdlib --no-progress > $L/data.log 2>&1 || exit 1
lm() { p=$1; n=$2; mb=$3
  timeout -s ABRT $(left 585) python3 -m zoo.cli train recipes/pystdlib/lm_small_$p.yaml --out $R/lm${n}_$p \
    --set data.path=/tmp/pystdlib --set checkpoint.every=0 ${S29_SCHEDULE:---set schedule.max_minutes=6} --set log.every=100 \
    --set model.overrides.max_seq_len=$n --set micro_batch=$mb > $L/lm${n}_$p.log 2>&1; }
for p in longformer dense; do lm $p 2048 16 & lm $p 8192 4 & done
wait
head -n 3 $L/data.log
keep_logs 12
run_metrics $R
