# session 29, call 1 (nvidia-h200): issue #8's pixel bits/dim at equal wall-clock (Sparse Transformer Table 2's
# comparison) on this code: quality_h200.json's pixel32 / pixel64 rows ran session 4's code (fixed's attention then
# 15 useful TFLOP/s, now 202-269), and fixed's 64x64 run ended with test loss 0.178 against a training loss of 0.101
# (strided 0.082 / 0.091, dense 0.122 / 0.121): this checks that gap on kernels the correctness matrix now covers.
# The six runs share the GPU (32x32: 4.5 minutes each, 64x64: 6 minutes each, the budgets of session 4), so each
# comparison's runs compete under the same conditions. Carry: .whl and data/easyvqa.
# (As run, at 6c7e264, each run's metrics.json was copied under $OUT, and the device returned 8 of the 14 files;
# since, lib.sh's run_metrics writes them as one quality.json, as for calls 3 and 4.)
source benchmarks/jobs/lib.sh
R=/tmp/runs
px() { side=$1; p=$2; mins=$3
  timeout -s ABRT $(left 585) python3 -m zoo.cli train recipes/easyvqa$side/pixel_small_$p.yaml --out $R/px${side}_$p \
    --set checkpoint.every=0 --set data.workers=2 --set schedule.max_minutes=$mins --set log.every=100 \
    > $L/px${side}_$p.log 2>&1; }
for p in strided fixed dense; do px 32 $p 4.5 & px 64 $p 6 & done
wait
keep_logs 20
run_metrics $R
