# session 19, call 5 (nvidia-h200): the fused ZeRO gradient norm's GPU test as mended after review
# (call 4's run of it took the CPU path: the suite's conftest sets DS_ACCELERATOR=cpu, which the test
# now overrides with cuda, and it asserts the engine's and the norm's device). Carry: .whl.
source benchmarks/jobs/lib.sh
timeout -s ABRT 150 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_grad_norm.py -rA > $L/gpu_tests.log 2>&1
keep_logs 40
grep -E "passed|failed|PASSED|FAILED" $L/gpu_tests.log | tail -n 4
