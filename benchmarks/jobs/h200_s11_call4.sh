# session 11, call 4 (nvidia-h200): issue #8's dense baselines on the same code as call 2's sparse
# rows (q/k/v unbind, compile=True or eager), so the sparse-vs-dense step speedup compares like with
# like; and one diagnostic: the compiled sparse pixel model without ZeRO (--zero 0), to size what
# DeepSpeed's ZeRO-2 gradient hooks cost on one GPU (call 2: 125 ms per step, 86 ms of it GPU
# kernels). One process at a time. Carry: .whl.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs; mkdir -p $L; T0=$(date +%s); left() { echo $(($1 - $(date +%s) + T0)); }
B="python3 tools/bench_train.py --warmup 3 --steps 8 --out $OUT/train.json"
P="--model pixel_base_strided.imagenet64 --seq-len 12288 --micro-batch 8"
M="--model lm_base_longformer.enwik8 --seq-len 16384 --micro-batch 4"
timeout -s ABRT $(left 100) $B $P --zero 2 --attention dense --tag h200x1_eager_unbind > $L/pix_dense_eager.log 2>&1
timeout -s ABRT $(left 210) $B $P --zero 2 --attention dense --compile --tag h200x1_compile_unbind > $L/pix_dense_compile.log 2>&1
timeout -s ABRT $(left 280) $B $M --zero 2 --attention dense --tag h200x1_eager_unbind > $L/lm_dense_eager.log 2>&1
timeout -s ABRT $(left 420) $B $M --zero 2 --attention dense --compile --tag h200x1_compile_unbind > $L/lm_dense_compile.log 2>&1
timeout -s ABRT $(left 510) $B $P --zero 0 --compile --tag h200x1_compile_unbind_zero0 > $L/pix_zero0.log 2>&1
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | tail -n 30; done > $OUT/logs.txt 2>&1
python3 -c "
import json; rows=json.load(open('$OUT/train.json'))
for r in rows:
    print(r['model'][:14], r.get('attention'), r.get('zero'), r.get('tag'), r.get('step_ms'), r.get('mfu'), r.get('warmup_s'), r.get('error', '')[:300])"
