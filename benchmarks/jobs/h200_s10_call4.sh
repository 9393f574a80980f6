# session 10, call 4 (nvidia-h200): issue #8's ListOps, positions. The encoders use learned
# absolute positions; call 3 showed more data does not help (96,000 examples: 36.40% / 36.25%).
# A/B in one call, sharing the GPU: BigBird with rotary positions (--set model.overrides.pos=rotary)
# vs the same run with the recipe's learned positions; lr 5e-4, 2,000 steps (warmup 200), the
# 40,000-example set of sessions 5-9. Carry: .whl.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs; mkdir -p $L; T0=$(date +%s); left() { echo $(($1 - $(date +%s) + T0)); }
python3 -m zoo.cli data convert listops --out /tmp/lo --limit 40000 --no-progress > $L/lo_data.log 2>&1
echo "data after $(( $(date +%s) - T0 )) s"
for pos in rotary learned; do
  timeout -s ABRT $(left 370) python3 -m zoo.cli train recipes/listops/encoder_small_bigbird.yaml --out /tmp/runs/lo_$pos \
    --set checkpoint.every=0 --set deepspeed=configs/deepspeed/zero2_bf16.json --set data.path=/tmp/lo \
    --set schedule.steps=2000 --set schedule.warmup_steps=200 --set schedule.max_minutes=4.3 --set eval.every=0 \
    --set eval.split=test --set log.every=100 --set model.overrides.pos=$pos > $L/lo_$pos.log 2>&1 &
done
wait
for pos in rotary learned; do cp /tmp/runs/lo_$pos/train.csv $OUT/lo_$pos.train.csv; cp /tmp/runs/lo_$pos/metrics.json $OUT/lo_$pos.metrics.json; done
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | grep -v "^\s*$" | grep -v "step/s," | tail -n 25; done > $OUT/logs.txt 2>&1
grep -h "test:" $L/lo_*.log | tail -n 4; tail -n 1 /tmp/runs/lo_*/train.csv
