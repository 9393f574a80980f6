# session 18, call 3 (ran on nvidia-h100-x1, sm90 like the H200: no H200 could be started; code 911caee): why the compiled tile build (kernels/block_mask._tile_tables under
# torch.compile) gives wrong block tables for per-head masks at 257 tokens on 64-token blocks (call 1: the
# compiled build BAD at 257 for dilated_window_per_head / union / learned bidirectional, its eager build
# right at every length; every one-mask pattern right). 1. the compiled tables against the eager ones,
# entry by entry, for a synthetic per-head mask over lengths and blocks; 2. candidate formulations
# (inductor without split reductions; one 5-D reduction; an int8 amax/amin) end to end on the per-head
# patterns as in call 1. First, the GPU tests of the in-graph path with 64-token blocks the default
# (kernels/tiles.fused_block, flipped after calls 1-2). Carry: .whl.
source benchmarks/jobs/lib.sh
timeout -s ABRT 150 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_attention_module.py -k cuda -rA > $L/graph_test.log 2>&1
timeout -s ABRT $(left 470) python3 benchmarks/jobs/s18_tile_diag.py > $L/diag3.log 2>&1
keep_logs 200
grep -E "PASSED|FAILED|ERROR|passed|failed" $L/graph_test.log | tail -n 10
grep -E "BAD|DIFF" $L/diag3.log | head -n 60; tail -n 5 $L/diag3.log
