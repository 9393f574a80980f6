# session 13, call 2 (nvidia-h200), prepared in session 12 (not run yet): issue #8's ListOps goal
# (40%; from-scratch runs 35.8-37.7%) with self-pretraining: recipes/listops_pretrain (the BigBird
# encoder restores 15% corrupted tokens of the training inputs) then recipes/listops_finetune (new
# classification head from its export), 40,000 training examples as in session 9's best run, alone
# on the GPU; schedule.max_minutes guards both. Carry: .whl.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs; mkdir -p $L; T0=$(date +%s); left() { echo $(($1 - $(date +%s) + T0)); }
python3 -m zoo.cli data convert listops --out /tmp/lo --limit 40000 --no-progress > $L/lo_data.log 2>&1
echo "data after $(( $(date +%s) - T0 )) s"
S="--set checkpoint.every=0 --set data.path=/tmp/lo --set log.every=100"
timeout -s ABRT $(left 300) python3 -m zoo.cli train recipes/listops_pretrain/encoder_small_bigbird.yaml \
  --out /tmp/runs/lo_pre $S --set schedule.max_minutes=2.5 > $L/lo_pre.log 2>&1
timeout -s ABRT $(left 575) python3 -m zoo.cli train recipes/listops_finetune/encoder_small_bigbird.yaml \
  --out /tmp/runs/lo_fine $S --set model.checkpoint=/tmp/runs/lo_pre/model.safetensors \
  --set schedule.max_minutes=$(( ($(left 545) - 60) / 60 )) --set eval.every=0 --set eval.split=test > $L/lo_fine.log 2>&1
for r in lo_pre lo_fine; do cp /tmp/runs/$r/train.csv $OUT/$r.train.csv; cp /tmp/runs/$r/metrics.json $OUT/$r.metrics.json; done
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | grep -v "^\s*$" | grep -v "step/s," | tail -n 25; done > $OUT/logs.txt 2>&1
grep -h "test:" $L/lo_*.log | tail -n 2; tail -n 2 /tmp/runs/lo_fine/train.csv; head -c 600 $OUT/lo_fine.metrics.json
