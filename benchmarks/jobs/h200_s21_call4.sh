# session 21, call 4 (nvidia-h200; prepared, not run: the device time left could not start a machine).
# Call 3's timings were noisy (Hugging Face's BigBird forward 54.7 ms above its forward+backward 41.1; our
# unchanged BigBird module 2.01 vs 1.33 ms in call 2) while its profiles showed every kernel as planned.
# Since then: LSH's rotations stay on the device (a pageable host copy per call synchronised host and GPU),
# the routed pieces leave the stacked output by unbind (4 select backwards zero-filled whole gradients), lse
# keeps fp64 for fp64 inputs. 1. GPU tests; 2. routed correctness (reduced matrix); 3. lsh / anchor at
# 4k / 16k / 64k with --ab and profiles; 4. the peers at 16k. Carry: .whl, .whl_hf.
source benchmarks/jobs/lib.sh
python3 -c "import transformers" 2>/dev/null || python3 -m pip install -q --no-index --no-deps --no-compile \
  --no-cache-dir --target /tmp/hfsite .whl_hf/*.whl
export PYTHONPATH=$PYTHONPATH:/tmp/hfsite
timeout -s ABRT 150 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_argmax_proj.py \
  tests/test_routed_sorted.py -rA > $L/gpu_tests.log 2>&1
timeout -s ABRT $(left 260) python3 tools/gpu_correctness.py --workers 14 --deadline $(left 250) \
  --lengths 7,257,1000 --patterns lsh,anchor --out $OUT/correctness.json > $L/corr.log 2>&1
timeout -s ABRT $(left 400) python3 tools/bench_attention.py --ab --no-peers --no-long --no-sdpa \
  --ns 4096,16384,65536 --patterns lsh,anchor --profile lsh,anchor --deadline $(left 390) \
  --out $OUT/attention > $L/attn.log 2>&1
timeout -s ABRT $(left 460) python3 tools/bench_attention.py --patterns "" --no-sdpa --no-long \
  --deadline $(left 450) --out $OUT/peers > $L/peers.log 2>&1
keep_logs 40
grep -E "passed|failed|Error" $L/gpu_tests.log | tail -n 4; tail -n 3 $L/corr.log
grep -E "^\{" $L/attn.log | cut -c1-180 | tail -n 20
grep -E "^\|" $L/peers.log | tail -n 8
