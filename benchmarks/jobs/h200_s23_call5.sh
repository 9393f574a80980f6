# session 23, call 5 (nvidia-h200): call 4's GPU tests broke after one failed capture (an untrained anchor router in
# eval runs k-means per input; the failed capture left torch's CUDA generator in capture mode, so every later random
# draw in that process failed). The anchor module is now initialised before capture; each test file in its own process.
source benchmarks/jobs/lib.sh
timeout -s ABRT 150 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_routed_sorted.py -rA > $L/sorted.log 2>&1
timeout -s ABRT 150 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_cuda_graphs.py -rA > $L/graphs.log 2>&1
grep -h -E "^(PASSED|FAILED|ERROR)|passed|failed|Error:" $L/sorted.log $L/graphs.log | cut -c1-300 | tail -n 20
