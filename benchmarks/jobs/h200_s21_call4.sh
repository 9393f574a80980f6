# session 21, call 4 (nvidia-h200; prepared, not run: the budget left could not start a machine): call 3's timings were noisy (Hugging Face's
# BigBird forward 54.7 ms > its forward+backward 41.1; our module lsh 7.34 vs 4.51 ms in call 2) while its
# profiles showed the kernels as planned. LSH's rotations were copied from pageable host memory every call,
# which makes the host wait for the GPU queue (then host speed shows in the timings); now kept on the device.
# Re-times lsh / anchor at 16k / 64k, zoo rows only. Carry: .whl.
source benchmarks/jobs/lib.sh
timeout -s ABRT 120 python3 tools/bench_attention.py --no-peers --no-long --no-sdpa --ns 16384,65536 \
  --patterns lsh,anchor --deadline 100 --out $OUT/attention > $L/attn.log 2>&1
keep_logs 40
grep -E "^\{" $L/attn.log | cut -c1-180 | tail -n 8
