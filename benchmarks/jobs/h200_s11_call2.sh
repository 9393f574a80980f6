# session 11, call 2 (nvidia-h200): issue #8's MFU, after call 1 found copies, fills and adds
# (strided copy kernels 17.5 ms of a 136 ms pixel step) around the attention: q/k/v now unbind in
# the projection's layout (backward: one stack, not three zeroed full-size selects summed) and the
# rotary q/k projection uses unbind/stack instead of slices and cat. Same runs as call 1, eager vs
# compile=True; the profile now also names each kernel's origin (op, backward node or zoo line). pixel_base_strided.imagenet64 at micro-batch 8 and
# lm_base_longformer.enwik8 at 16k tokens, micro-batch 4, eager vs --compile, one process at a
# time. Carry: .whl.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs; mkdir -p $L; T0=$(date +%s); left() { echo $(($1 - $(date +%s) + T0)); }
B="python3 tools/bench_train.py --warmup 3 --steps 8 --zero 2 --profile-steps 2 --out $OUT/train.json"
P="--model pixel_base_strided.imagenet64 --seq-len 12288 --micro-batch 8"
M="--model lm_base_longformer.enwik8 --seq-len 16384 --micro-batch 4"
timeout -s ABRT $(left 110) $B $P --tag h200x1_eager_unbind > $L/pix_eager.log 2>&1
timeout -s ABRT $(left 260) $B $P --compile --tag h200x1_compile_unbind > $L/pix_compile.log 2>&1
timeout -s ABRT $(left 430) $B $M --compile --tag h200x1_compile_unbind > $L/lm_compile.log 2>&1
timeout -s ABRT $(left 570) $B $M --tag h200x1_eager_unbind > $L/lm_eager.log 2>&1
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | tail -n 40; done > $OUT/logs.txt 2>&1
python3 -c "
import json; rows=json.load(open('$OUT/train.json'))
for r in rows:
    p = r.get('profile') or {}
    print(r['model'][:14], r.get('tag'), r.get('step_ms'), r.get('mfu'), r.get('loss'), r.get('warmup_s'), r.get('error', '')[:200])
    print('   ', p.get('wall_ms_per_step'), p.get('gpu_busy_ms_per_step'), p.get('gpu_ms_by_kind'))
    for k in (p.get('top_gpu_kernels') or [])[:6]: print('      ', k)
    for k in (p.get('gpu_ms_by_origin') or [])[:14]: print('      ', k)"
