# session 18, call 4 (ran on nvidia-h100-x1, sm90 like the H200: no H200 could be started then): per-head
# masks on 64-token blocks after the tile-table fix (kernels/block_mask._tile_tables reduces a 5-D view at
# once; call 3 found the two-step reduction compiled wrong for 2+ heads at an odd number >= 5 of 64-token
# blocks), now that fused_block gives every fused pattern 64-token blocks on sm90: 1. the bf16 matrix of the
# per-head patterns at 257, 385 and 1,001 tokens (5, 7 and 16 blocks); 2. the in-graph GPU test of a
# per-head dilation. The LM timing planned with them (16k x 16, its per-head top layers on 64) was dropped:
# the device time left after two refused starts covered only these. Carry: .whl.
source benchmarks/jobs/lib.sh
timeout -s ABRT 100 python3 tools/gpu_correctness.py --workers 14 --deadline 85 --lengths 257,385,1001 --dtypes bfloat16 \
  --patterns dilated_window_per_head,union,learned --out $OUT/correctness.json > $L/corr.log 2>&1
tail -n 6 $L/corr.log
timeout -s ABRT $(left 165) python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_attention_module.py -k "cuda and env8" -rA > $L/graph_test.log 2>&1
grep -E "passed|failed" $L/graph_test.log | tail -n 3
keep_logs 30
