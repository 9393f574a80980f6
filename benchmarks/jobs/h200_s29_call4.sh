# session 29, call 4 (nvidia-h200): call 3 (h200_s29_call3.sh) at equal wall-clock: each of its four runs finished
# its 4,000 scheduled steps inside the 6-minute cap (equal steps, not equal time), so here every run decays its
# learning rate over 5 minutes of its own clock (schedule.decay_by=time, steps uncapped): lm_small_{longformer,dense}
# on CPython's stdlib sources at 2,048 bytes of context (micro-batch 16) and 8,192 (micro-batch 4), the four runs
# sharing the GPU. Carry: .whl. (Its summary moved to lib.sh's run_metrics after the run.)
source benchmarks/jobs/lib.sh
R=/tmp/runs
python3 -m zoo.cli data convert pystdlib --out /tmp/pystdlib --no-progress > $L/data.log 2>&1 || exit 1
lm() { p=$1; n=$2; mb=$3
  timeout -s ABRT $(left 585) python3 -m zoo.cli train recipes/pystdlib/lm_small_$p.yaml --out $R/lm${n}_$p \
    --set data.path=/tmp/pystdlib --set checkpoint.every=0 --set schedule.max_minutes=5 --set schedule.steps=1000000 --set schedule.decay_by=time --set log.every=100 \
    --set model.overrides.max_seq_len=$n --set micro_batch=$mb > $L/lm${n}_$p.log 2>&1; }
for p in longformer dense; do lm $p 2048 16 & lm $p 8192 4 & done
wait
head -n 3 $L/data.log
keep_logs 12
run_metrics $R
