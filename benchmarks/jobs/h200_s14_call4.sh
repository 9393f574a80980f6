# session 14, call 4 (nvidia-h200): the code after calls 1-3, default settings throughout (graph
# attention now on by default; DeepSpeed's hooks as configured). New: residue-class pieces of at most
# 64 tokens run on 64-token BlockMask blocks and kernel tiles (flex.class_block / tiles_for). Call 3's
# profile of pixel_base_strided at 12,288 x 32: its dilated layers (192 classes of 64 tokens, causal)
# on 128 tiles are 1/8 useful, ~4.6 ms of FlexAttention per layer, 27 ms of a 304 ms step.
# 1. GPU tests of the in-graph path (now with a 64-token class case) against the dispatcher and the
#    reference backend, outputs and gradients;
# 2. pixel x32 with 64 tiles vs ZOO_CLASS_TILE=128 (A/B, profiled), its dense baseline, LM 16k x 16 and
#    its dense baseline (the headline MFU rows at default settings: call 3 ran DeepSpeed's plain hooks);
# 3. the dense-oracle correctness of short class pieces (n/r <= 64), forward and gradients, in the
#    time left. Compiled ZeRO-2 bf16. Carry: .whl.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs; mkdir -p $L; T0=$(date +%s); left() { echo $(($1 - $(date +%s) + T0)); }
B="python3 tools/bench_train.py --warmup 3 --steps 10 --compile --zero 2 --out $OUT/train.json"
P="--model pixel_base_strided.imagenet64 --seq-len 12288 --micro-batch 32"
M="--model lm_base_longformer.enwik8 --seq-len 16384 --micro-batch 16"
timeout -s ABRT 100 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_attention_module.py -k cuda > $L/graph_test.log 2>&1
timeout -s ABRT $(left 170) $B $P --profile-steps 1 --tag h200x1_compile_mb32 > $L/pix.log 2>&1
ZOO_CLASS_TILE=128 timeout -s ABRT $(left 240) $B $P --profile-steps 1 --tag h200x1_compile_mb32_class_tile128 > $L/pix128.log 2>&1
timeout -s ABRT $(left 300) $B $P --attention dense --tag h200x1_compile_mb32 > $L/pix_dense.log 2>&1
timeout -s ABRT $(left 420) $B $M --tag h200x1_compile_mb16 > $L/lm.log 2>&1
timeout -s ABRT $(left 540) $B $M --attention dense --tag h200x1_compile_mb16 > $L/lm_dense.log 2>&1
D=$(( $(left 575) - 15 )); [ $D -gt 20 ] && timeout -s ABRT $((D + 10)) python3 tools/gpu_correctness.py --workers 8 \
  --deadline $D --lengths 96,128,192,320 --patterns dilated_window,dilated_window_r2,strided,fixed \
  --out $OUT/correctness.json > $L/corr.log 2>&1
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | tail -n 30; done > $OUT/logs.txt 2>&1
tail -n 3 $L/graph_test.log; tail -n 12 $L/corr.log
python3 -c "
import json; rows=json.load(open('$OUT/train.json'))
for r in rows:
    p = r.get('profile') or {}
    print(r['model'][:14], r.get('attention'), r.get('tag'), r.get('env'), r.get('micro_batch'), r.get('step_ms'), r.get('mfu'), r.get('loss'), (r.get('error') or '')[:200])
    print('   ', p.get('gpu_busy_ms_per_step'), p.get('gpu_ms_by_kind'))"
