# session 17, call 3 (nvidia-h200), prepared in session 16 (not run yet): lm_base_longformer at 16k with
# twice the micro-batch (32; x16 peaked at 52 GiB), so the per-step costs that do not grow with it (the
# host issuing DeepSpeed's optimizer step, ~14 ms wall of the 227.8 ms x16 step, and the forward's
# head start) are spread over twice the tokens; on 128- and on 64-token blocks (ZOO_FLEX_BLOCK=64, keep
# it only if call 1 and 2 found it correct and faster). Compiled ZeRO-2 bf16. Carry: .whl.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs; mkdir -p $L; T0=$(date +%s); left() { echo $(($1 - $(date +%s) + T0)); }
B="python3 tools/bench_train.py --warmup 3 --steps 10 --profile-steps 1 --compile --zero 2 --out $OUT/train.json"
M="--model lm_base_longformer.enwik8 --seq-len 16384 --micro-batch 32"
timeout -s ABRT 280 $B $M --tag h200x1_compile_mb32 > $L/lm.log 2>&1
ZOO_FLEX_BLOCK=64 timeout -s ABRT $(left 585) $B $M --tag h200x1_compile_mb32_block64 > $L/lm64.log 2>&1
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | tail -n 30; done > $OUT/logs.txt 2>&1
python3 -c "
import json; rows=json.load(open('$OUT/train.json'))
for r in rows:
    p = r.get('profile') or {}
    print(r['model'][:14], r.get('tag'), r.get('env'), r.get('step_ms'), r.get('mfu'), r.get('mem_peak_gib'), (r.get('error') or '')[:300])
    print('   ', p.get('gpu_busy_ms_per_step'), p.get('gpu_ms_by_kind'))"
