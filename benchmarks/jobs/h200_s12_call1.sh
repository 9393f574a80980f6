# session 12, call 1 (nvidia-h200): (1) issue #3/#8's lead from session 11's LM profile: per-head
# dilation lists as kernel constants (one rule per distinct dilation, picked by head group) vs the
# table lookup they replaced, A/B with outputs and gradients compared (16 heads, 12 x 1 + 4 x 2);
# (2) the LM step it should speed up (lm_base_longformer.enwik8 at 16k x 4, compiled, then eager)
# against session 11's 126.5 / 155.5 ms; (3) the compiled pixel step (pixel_base_strided.imagenet64,
# micro-batch 8) with the new idle-gap profile: ~39 ms per step with no kernel running, by the op
# that ended each gap and the step phase. Carry: .whl.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs; mkdir -p $L; T0=$(date +%s); left() { echo $(($1 - $(date +%s) + T0)); }
timeout -s ABRT 100 python3 tools/bench_attention.py --ab --no-peers --no-long --no-sdpa --ns 16384,65536 \
  --patterns dilated_window --deadline 90 --out $OUT/attention > $L/attn.log 2>&1
B="python3 tools/bench_train.py --warmup 3 --steps 8 --zero 2 --profile-steps 2 --out $OUT/train.json"
P="--model pixel_base_strided.imagenet64 --seq-len 12288 --micro-batch 8"
M="--model lm_base_longformer.enwik8 --seq-len 16384 --micro-batch 4"
timeout -s ABRT $(left 290) $B $M --compile --tag h200x1_compile_dilconst > $L/lm_compile.log 2>&1
timeout -s ABRT $(left 450) $B $P --compile --tag h200x1_compile_gaps > $L/pix_compile.log 2>&1
timeout -s ABRT $(left 575) $B $M --tag h200x1_eager_dilconst > $L/lm_eager.log 2>&1
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | tail -n 40; done > $OUT/logs.txt 2>&1
grep -h "zoo\|flex_mask" $L/attn.log | tail -n 12
python3 -c "
import json; rows=json.load(open('$OUT/train.json'))
for r in rows:
    p = r.get('profile') or {}
    print(r['model'][:14], r.get('tag'), r.get('step_ms'), r.get('mfu'), r.get('loss'), r.get('warmup_s'), r.get('error', '')[:200])
    print('   ', p.get('wall_ms_per_step'), p.get('gpu_busy_ms_per_step'), p.get('gpu_ms_by_kind'))
    g = p.get('gpu_idle') or {}
    print('    idle', g.get('idle_ms_per_call'), 'span', g.get('span_ms_per_call'))
    for k in (g.get('by_next_op') or [])[:12]: print('      ', k)
    for k in (p.get('gpu_ms_by_origin') or [])[:8]: print('      ', k)"
