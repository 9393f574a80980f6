# session 12, call 3 (nvidia-h200): issue #8, where a compiled step loses ~30 ms of GPU time (call 2:
# pixel step 115 ms with 85 ms of kernels). Call 2's whole-step host_vs_gpu found the host blocked
# inside every step (DeepSpeed's grad-norm and overflow checks synchronise), which spent the head
# start; now per phase (forward, backward, optimizer step): wall, host and GPU-after-head-start
# times. Idle profile now by phase from the GPU spans of the marks (torch 2.11's events do not link
# kernels to ops). pixel_base_strided.imagenet64 (micro-batch 8) with ZeRO-2 and without ZeRO,
# lm_base_longformer.enwik8 (16k x 4) with ZeRO-2; compiled, bf16. Carry: .whl.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs; mkdir -p $L; T0=$(date +%s); left() { echo $(($1 - $(date +%s) + T0)); }
B="python3 tools/bench_train.py --warmup 3 --steps 8 --profile-steps 1 --compile --out $OUT/train.json"
P="--model pixel_base_strided.imagenet64 --seq-len 12288 --micro-batch 8"
M="--model lm_base_longformer.enwik8 --seq-len 16384 --micro-batch 4"
timeout -s ABRT $(left 140) $B $P --zero 2 --tag h200x1_compile_phases > $L/pix_z2.log 2>&1
timeout -s ABRT $(left 270) $B $P --zero 0 --tag h200x1_compile_phases_zero0 > $L/pix_z0.log 2>&1
timeout -s ABRT $(left 470) $B $M --zero 2 --tag h200x1_compile_phases > $L/lm_z2.log 2>&1
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | tail -n 30; done > $OUT/logs.txt 2>&1
python3 -c "
import json; rows=json.load(open('$OUT/train.json'))
for r in rows:
    p = r.get('profile') or {}
    print(r['model'][:14], r.get('tag'), r.get('zero'), r.get('step_ms'), r.get('mfu'), r.get('error', '')[:200])
    h = r.get('host_vs_gpu') or {}
    for k in ('forward', 'backward', 'step'): print('   ', k, h.get(k))
    print('   ', h.get('sync_points'), h.get('error'))
    print('   ', p.get('wall_ms_per_step'), p.get('gpu_busy_ms_per_step'), p.get('gpu_ms_by_kind'))
    g = p.get('gpu_idle') or {}
    print('    idle', g.get('idle_ms_per_call'), 'span', g.get('span_ms_per_call'), g.get('by_phase'))"
