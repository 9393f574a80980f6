# session 11, call 5 (nvidia-h200): compile=True through the training engine on the GPU (the user
# path: zoo train ... --set model.overrides.compile=true), on a small host-bound model: ListOps
# BigBird, eager vs compiled, 45 s of training each after the first step (schedule.max_minutes),
# alone on the GPU one after the other, then the test evaluation (which runs the blocks eagerly).
# Steps in the budget say whether compiling pays off for small models too. Carry: .whl.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs; mkdir -p $L; T0=$(date +%s); left() { echo $(($1 - $(date +%s) + T0)); }
python3 -m zoo.cli data convert listops --out /tmp/lo --limit 10000 --no-progress > $L/lo_data.log 2>&1
echo "data after $(( $(date +%s) - T0 )) s"
for c in false true; do
  timeout -s ABRT $(left $([ $c = false ] && echo 170 || echo 320)) python3 -m zoo.cli train recipes/listops/encoder_small_bigbird.yaml \
    --out /tmp/runs/lo_compile_$c --set checkpoint.every=0 --set deepspeed=configs/deepspeed/zero2_bf16.json \
    --set data.path=/tmp/lo --set schedule.steps=3000 --set schedule.warmup_steps=300 --set schedule.max_minutes=0.75 \
    --set eval.every=0 --set eval.split=test --set log.every=50 --set model.overrides.compile=$c > $L/lo_compile_$c.log 2>&1
  cp /tmp/runs/lo_compile_$c/train.csv $OUT/lo_compile_$c.train.csv; cp /tmp/runs/lo_compile_$c/metrics.json $OUT/lo_compile_$c.metrics.json
  echo "compile=$c done after $(( $(date +%s) - T0 )) s"
done
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | grep -v "^\s*$" | grep -v "step/s," | tail -n 25; done > $OUT/logs.txt 2>&1
for c in false true; do echo "compile=$c"; head -n 3 $OUT/lo_compile_$c.train.csv | tail -n 2; tail -n 1 $OUT/lo_compile_$c.train.csv; grep -h "test:" $L/lo_compile_$c.log | tail -n 1; done
