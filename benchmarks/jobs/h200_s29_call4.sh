# session 29, call 4 (nvidia-h200): call 3 (h200_s29_call3.sh) at equal wall-clock: each of its four runs finished
# its 4,000 scheduled steps inside the 6-minute cap (equal steps, not equal time), so here every run decays its
# learning rate over 5 minutes of its own clock (schedule.decay_by=time, steps uncapped): lm_small_{longformer,dense}
# on CPython's stdlib sources at 2,048 bytes of context (micro-batch 16) and 8,192 (micro-batch 4), the four runs
# sharing the GPU. Carry: .whl. (As run, at 39b308d, it was call 3's script with these flags written in;
# since, it runs call 3's with them.)
S29_SCHEDULE="--set schedule.max_minutes=5 --set schedule.steps=1000000 --set schedule.decay_by=time" \
  source benchmarks/jobs/h200_s29_call3.sh
