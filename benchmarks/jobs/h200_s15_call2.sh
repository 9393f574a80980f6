# session 15, call 2 (nvidia-h200), prepared in session 14 (not run yet): DeepSpeed's ZeRO-2 step
# without its host-device syncs (zoo/train/ds_patches.py, on by default since session 14) against
# DeepSpeed's own step (ZOO_DS_STEP_SYNCS=1). Session 14's profiles: six syncs per step
# (runtime/utils.py:887, 888, 233); after them the host issues the rest of the step while the GPU
# idles: 21.8 ms of pixel x32's 303.6 ms step (11.2 of 303.8 with plain gradient hooks; LM x16 with
# them 16.2 of 227.1). The pixel step's GPU work is 285.6 ms (MFU 0.41 if nothing else waited).
# Profiled: sync_points should be empty, gpu_idle.by_phase.step near zero. Set ZOO_CLASS_TILES=64 in the command if call 1 showed it wins. Compiled ZeRO-2 bf16.
# Carry: .whl.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs; mkdir -p $L; T0=$(date +%s); left() { echo $(($1 - $(date +%s) + T0)); }
B="python3 tools/bench_train.py --warmup 3 --steps 10 --profile-steps 1 --compile --zero 2 --out $OUT/train.json"
P="--model pixel_base_strided.imagenet64 --seq-len 12288 --micro-batch 32"
M="--model lm_base_longformer.enwik8 --seq-len 16384 --micro-batch 16"
timeout -s ABRT $(left 90) $B $P --tag h200x1_compile_mb32 > $L/pix.log 2>&1
ZOO_DS_STEP_SYNCS=1 timeout -s ABRT $(left 170) $B $P --tag h200x1_compile_mb32_ds_step_syncs > $L/pix_sync.log 2>&1
timeout -s ABRT $(left 320) $B $M --tag h200x1_compile_mb16 > $L/lm.log 2>&1
ZOO_DS_STEP_SYNCS=1 timeout -s ABRT $(left 450) $B $M --tag h200x1_compile_mb16_ds_step_syncs > $L/lm_sync.log 2>&1
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | tail -n 30; done > $OUT/logs.txt 2>&1
python3 -c "
import json; rows=json.load(open('$OUT/train.json'))
for r in rows:
    p = r.get('profile') or {}
    print(r['model'][:14], r.get('tag'), r.get('env'), r.get('micro_batch'), r.get('step_ms'), r.get('mfu'), r.get('loss'), (r.get('error') or '')[:200])
    print('   ', (r.get('host_vs_gpu') or {}).get('step'), (r.get('host_vs_gpu') or {}).get('sync_points'), (p.get('gpu_idle') or {}).get('by_phase'))"
