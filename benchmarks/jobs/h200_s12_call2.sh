# session 12, call 2 (nvidia-h200): issue #8's idle GPU time in a compiled step. Call 1's idle
# profile charged the gaps to profiler-internal events (their ids collide with ops') and counted
# the GPU spans of the new step-phase marks as kernels; both fixed. Also new, without a profiler's
# host overhead (with stacks the profiled pixel step took 692 ms of wall for 122 ms unprofiled):
# host_vs_gpu, the host's time to enqueue a step vs the GPU's time for it after a sleep kernel's
# head start, and the step's synchronising lines. pixel_base_strided.imagenet64 (micro-batch 8)
# and lm_base_longformer.enwik8 (16k x 4), compiled, ZeRO-2 bf16. Then call 1's per-head
# dilation A/B at 64k (its deadline cut it). Carry: .whl.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs; mkdir -p $L; T0=$(date +%s); left() { echo $(($1 - $(date +%s) + T0)); }
B="python3 tools/bench_train.py --warmup 3 --steps 8 --zero 2 --profile-steps 2 --out $OUT/train.json"
P="--model pixel_base_strided.imagenet64 --seq-len 12288 --micro-batch 8"
M="--model lm_base_longformer.enwik8 --seq-len 16384 --micro-batch 4"
timeout -s ABRT $(left 170) $B $P --compile --tag h200x1_compile_idle > $L/pix_compile.log 2>&1
timeout -s ABRT $(left 360) $B $M --compile --tag h200x1_compile_idle > $L/lm_compile.log 2>&1
timeout -s ABRT $(left 560) python3 tools/bench_attention.py --ab --no-peers --no-long --no-sdpa --ns 65536 \
  --patterns dilated_window --deadline $(left 540) --out $OUT/attention > $L/attn.log 2>&1
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | tail -n 40; done > $OUT/logs.txt 2>&1
grep -h "zoo\|flex_mask" $L/attn.log | tail -n 6
python3 -c "
import json; rows=json.load(open('$OUT/train.json'))
for r in rows:
    p = r.get('profile') or {}
    print(r['model'][:14], r.get('tag'), r.get('step_ms'), r.get('mfu'), r.get('error', '')[:200])
    print('   host_vs_gpu', r.get('host_vs_gpu'))
    print('   ', p.get('wall_ms_per_step'), p.get('gpu_busy_ms_per_step'), p.get('gpu_ms_by_kind'))
    g = p.get('gpu_idle') or {}
    print('    idle', g.get('idle_ms_per_call'), 'span', g.get('span_ms_per_call'))
    for k in (g.get('by_next_op') or [])[:15]: print('      ', k)"
