# session 21, call 4 (nvidia-h200; prepared, not run: the device time left could not start a machine).
# Call 3's timings were noisy (Hugging Face's BigBird forward 54.7 ms above its forward+backward 41.1; our
# unchanged BigBird module 2.01 vs 1.33 ms in call 2) while its profiles showed every kernel as planned.
# Since then: LSH's rotations stay on the device (a pageable host copy per call synchronised host and GPU),
# the routed pieces leave the stacked output by unbind (4 select backwards zero-filled whole gradients), lse
# keeps fp64 for fp64 inputs. Call 3's job as it ran, at the new code: 1. GPU tests; 2. routed correctness
# (reduced matrix); 3. lsh / anchor at 4k / 16k / 64k with --ab and profiles; 4. the peers at 16k.
# Carry: .whl, .whl_hf.
bash benchmarks/jobs/h200_s21_call3.sh
