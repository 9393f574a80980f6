# session 13, call 1 (nvidia-h200), prepared in session 12 (not run yet): issues #3/#8, q/k/v as
# dense parts (projection.py) and residue classes on the free (B, r*H, n/r, D) view, plus rotary
# tables as buffers. (1) GPU correctness of the new class view, forward and gradients, in the
# models' layout (--layout projected) at lengths where strided and dilation 2 run as class heads;
# (2) the compiled training steps side by side, new default vs ZOO_FUSED_QKV=1 (the interleaved
# views of session 12): pixel_base_strided.imagenet64 (micro-batch 8) and lm_base_longformer.enwik8
# (16k x 4), ZeRO-2 bf16, with host_vs_gpu and a profile. Carry: .whl.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs; mkdir -p $L; T0=$(date +%s); left() { echo $(($1 - $(date +%s) + T0)); }
timeout -s ABRT 120 python3 tools/gpu_correctness.py --workers 8 --deadline 100 --lengths 1000,1920 --layout projected \
  --patterns strided,dilated_window_r2,dilated_window --out $OUT/correctness.json > $L/corr.log 2>&1
B="python3 tools/bench_train.py --warmup 3 --steps 10 --profile-steps 1 --compile --zero 2 --out $OUT/train.json"
P="--model pixel_base_strided.imagenet64 --seq-len 12288 --micro-batch 8"
M="--model lm_base_longformer.enwik8 --seq-len 16384 --micro-batch 4"
timeout -s ABRT $(left 210) $B $P --tag h200x1_compile_dense_qkv > $L/pix_new.log 2>&1
ZOO_FUSED_QKV=1 timeout -s ABRT $(left 300) $B $P --tag h200x1_compile_fused_qkv > $L/pix_old.log 2>&1
timeout -s ABRT $(left 440) $B $M --tag h200x1_compile_dense_qkv > $L/lm_new.log 2>&1
ZOO_FUSED_QKV=1 timeout -s ABRT $(left 580) $B $M --tag h200x1_compile_fused_qkv > $L/lm_old.log 2>&1
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | tail -n 30; done > $OUT/logs.txt 2>&1
tail -n 12 $L/corr.log
python3 -c "
import json; rows=json.load(open('$OUT/train.json'))
for r in rows:
    p = r.get('profile') or {}
    print(r['model'][:14], r.get('tag'), r.get('env'), r.get('step_ms'), r.get('mfu'), r.get('loss'), r.get('error', '')[:200])
    h = r.get('host_vs_gpu') or {}
    for k in ('forward', 'backward', 'step'): print('   ', k, h.get(k))
    print('   ', p.get('gpu_busy_ms_per_step'), p.get('gpu_ms_by_kind'))"
