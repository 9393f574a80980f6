# session 12, call 5 (nvidia-h200): issue #8. Call 4 measured bf16.check_grad_overflow=false (the
# recipes' bf16 configs and bench_train's bf16 now default to it; the engine stops on a non-finite
# gradient norm instead): pixel 93.9 vs 118.4 ms, LM 86.3 vs 99.5 ms, compiled. Here the dense
# baselines on that setting (compiled, then eager) for the step speedups, then the eager sparse
# steps. ZeRO-2 bf16, pixel_base_strided.imagenet64 (micro-batch 8), lm_base_longformer.enwik8
# (16k x 4). Carry: .whl.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs; mkdir -p $L; T0=$(date +%s); left() { echo $(($1 - $(date +%s) + T0)); }
B="python3 tools/bench_train.py --warmup 3 --steps 10 --zero 2 --out $OUT/train.json"
P="--model pixel_base_strided.imagenet64 --seq-len 12288 --micro-batch 8"
M="--model lm_base_longformer.enwik8 --seq-len 16384 --micro-batch 4"
timeout -s ABRT $(left 50) $B $P --attention dense --compile --tag h200x1_compile_no_overflow_check > $L/pix_dense.log 2>&1
timeout -s ABRT $(left 100) $B $M --attention dense --compile --tag h200x1_compile_no_overflow_check > $L/lm_dense.log 2>&1
timeout -s ABRT $(left 130) $B $P --tag h200x1_eager_no_overflow_check > $L/pix_eager.log 2>&1
timeout -s ABRT $(left 160) $B $M --tag h200x1_eager_no_overflow_check > $L/lm_eager.log 2>&1
timeout -s ABRT $(left 180) $B $P --attention dense --tag h200x1_eager_no_overflow_check > $L/pix_dense_eager.log 2>&1
timeout -s ABRT $(left 195) $B $M --attention dense --tag h200x1_eager_no_overflow_check > $L/lm_dense_eager.log 2>&1
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | tail -n 20; done > $OUT/logs.txt 2>&1
python3 -c "
import json; rows=json.load(open('$OUT/train.json'))
for r in rows:
    print(r['model'][:14], r.get('attention_mode'), r.get('tag'), r.get('step_ms'), r.get('mfu'), r.get('loss'), r.get('warmup_s'), r.get('error', '')[:200])"
