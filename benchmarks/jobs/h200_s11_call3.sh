# session 11, call 3 (nvidia-h200): issue #8's ListOps with rotary positions, evaluated this time
# (session 10's A/B was killed before its test evaluation). Same run as session 9 call 3, the best
# so far (37.70% with learned positions: 40,000 examples, lr 5e-4, 3,000 steps, warmup 300, cosine
# finished) but with --set model.overrides.pos=rotary, alone on the GPU; schedule.max_minutes is the
# guard and leaves time for the test evaluation. Carry: .whl.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs; mkdir -p $L; T0=$(date +%s); left() { echo $(($1 - $(date +%s) + T0)); }
python3 -m zoo.cli data convert listops --out /tmp/lo --limit 40000 --no-progress > $L/lo_data.log 2>&1
echo "data after $(( $(date +%s) - T0 )) s"
timeout -s ABRT $(left 570) python3 -m zoo.cli train recipes/listops/encoder_small_bigbird.yaml --out /tmp/runs/lo_rotary \
  --set checkpoint.every=0 --set deepspeed=configs/deepspeed/zero2_bf16.json --set data.path=/tmp/lo \
  --set schedule.steps=3000 --set schedule.warmup_steps=300 --set schedule.max_minutes=$(( ($(left 540) - 60) / 60 )) \
  --set eval.every=0 --set eval.split=test --set log.every=100 --set model.overrides.pos=rotary > $L/lo_rotary.log 2>&1
cp /tmp/runs/lo_rotary/train.csv $OUT/lo_rotary.train.csv; cp /tmp/runs/lo_rotary/metrics.json $OUT/lo_rotary.metrics.json
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | grep -v "^\s*$" | grep -v "step/s," | tail -n 25; done > $OUT/logs.txt 2>&1
grep -h "test:" $L/lo_*.log | tail -n 2; tail -n 2 /tmp/runs/lo_rotary/train.csv; cat $OUT/lo_rotary.metrics.json | head -c 600
