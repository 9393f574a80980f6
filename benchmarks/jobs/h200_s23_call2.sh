# session 23, call 2 (nvidia-h200), right after call 1 (its data/listops96k, if the machine stayed warm). Issue #8:
# ListOps >= 40% (best 37.70%: BigBird, batch 32, 3,000 steps = 1 LRA budget of 96,000 samples). A small model's
# step is host-bound (DeepSpeed's per-tensor work, step_rate_h200.md), so micro-batch 128 sees ~4x the samples per
# minute. Both runs decay by time (new schedule.decay_by=time) over the same budget, sharing the GPU: BigBird at
# lr 1e-3 with learned positions and with rotary ones (rotary matters in long training: Miralles-Gonzalez et al.
# 2025). LRA's 96,000 training examples; without call 1's data, 40,000 generated here. Carry: .whl.
source benchmarks/jobs/lib.sh
D=data/listops96k
if [ ! -f $D/DONE ]; then D=/tmp/lo40k; python3 -m zoo.cli data convert listops --out $D --limit 40000 \
  --no-progress > $L/lo_data.log 2>&1; fi
echo "data $D after $(( $(date +%s) - T0 )) s"
M=$(python3 -c "print(round(($(left 560) - 80) / 60, 2))")
for v in learned rotary; do
  timeout -s ABRT $(left 585) python3 -m zoo.cli train recipes/listops/encoder_small_bigbird.yaml --out /tmp/runs/lo_$v \
    --set checkpoint.every=0 --set data.path=$D --set data.workers=4 --set micro_batch=128 --set schedule.lr=1e-3 \
    --set schedule.steps=100000 --set schedule.warmup_steps=200 --set schedule.decay_by=time \
    --set schedule.max_minutes=$M --set model.overrides.pos=$v --set eval.every=0 --set eval.split=test \
    --set log.every=100 > $L/lo_$v.log 2>&1 &
done
wait
for v in learned rotary; do cp /tmp/runs/lo_$v/train.csv $OUT/lo_$v.train.csv; cp /tmp/runs/lo_$v/metrics.json $OUT/lo_$v.metrics.json; done
echo "budget $M min, data $D"
keep_logs 25
grep -h "test:\|time budget" $L/lo_*.log | tail -n 4; for v in learned rotary; do tail -n 1 /tmp/runs/lo_$v/train.csv; done
