# session 17, call 2 (nvidia-h200), prepared in session 16 (not run yet): the training step with fused
# patterns on 64-token blocks (ZOO_FLEX_BLOCK=64) against 128 (the default), same process, profiled.
# lm_base_longformer at 16k x 16: every layer is a fused causal window of 128-512 keys (at 128 keys,
# 50% of the computed pairs are allowed on 128-token blocks, 67% on 64); its step was 227.8 ms (MFU
# 0.365; 0.40 needs <= 208 ms), attention kernels 62.7 ms. pixel_base_strided at 12,288 x 32: its
# sliding layers (191 keys) are fused, its dilated ones class heads (unchanged); 287.5 ms (MFU 0.408).
# Compiled ZeRO-2 bf16. Run call 1 first: it checks the 64-token blocks for correctness. Carry: .whl.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs; mkdir -p $L; T0=$(date +%s); left() { echo $(($1 - $(date +%s) + T0)); }
B="python3 tools/bench_train.py --warmup 3 --steps 10 --profile-steps 1 --compile --zero 2 --out $OUT/train.json"
P="--model pixel_base_strided.imagenet64 --seq-len 12288 --micro-batch 32"
M="--model lm_base_longformer.enwik8 --seq-len 16384 --micro-batch 16"
ZOO_FLEX_BLOCK=64 timeout -s ABRT 170 $B $M --tag h200x1_compile_mb16_block64 > $L/lm64.log 2>&1
timeout -s ABRT $(left 330) $B $M --tag h200x1_compile_mb16 > $L/lm.log 2>&1
ZOO_FLEX_BLOCK=64 timeout -s ABRT $(left 460) $B $P --tag h200x1_compile_mb32_block64 > $L/pix64.log 2>&1
timeout -s ABRT $(left 585) $B $P --tag h200x1_compile_mb32 > $L/pix.log 2>&1
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | tail -n 30; done > $OUT/logs.txt 2>&1
python3 -c "
import json; rows=json.load(open('$OUT/train.json'))
for r in rows:
    p = r.get('profile') or {}
    print(r['model'][:14], r.get('tag'), r.get('env'), r.get('step_ms'), r.get('mfu'), r.get('loss'), (r.get('error') or '')[:300])
    print('   ', p.get('gpu_busy_ms_per_step'), p.get('gpu_ms_by_kind'))"
