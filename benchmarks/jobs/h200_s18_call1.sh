# session 18, call 1 (nvidia-h200), prepared in session 17 (not run yet): the 64-token blocks
# (ZOO_FLEX_BLOCK=64) with the backward filter fix in its final form (kernels/tiles.py hands torch
# 2.11's backward lowering configs carrying the tiles its kernel_options pin; session 17 timed a first
# form that clamped torch's defaults while the switch was set) and the per-head fallback (patterns with
# head_groups > 1 stay on 128-token blocks). 1. the GPU tests of the in-graph path (64-block case
# included); 2. a diagnosis of session 17's per-head failure (wrong outputs at 257 tokens on 64-token
# blocks, right at 1,001): per-head patterns forced onto 64-token blocks (block=64) at several lengths,
# each with the BlockMask built compiled (the GPU's way) and eagerly (the CPU's), in a fresh process;
# 3. the bf16 correctness matrix of the fused patterns with the switch set (per-head ones now on 128);
# 4. issue #3's fused patterns at 16k with --ab (the flex_mask_mod rows on torch's own tiles must
# time as in run 25: 2.65 / 4.44 / 4.24 ms). Carry: .whl.
source benchmarks/jobs/lib.sh
timeout -s ABRT 150 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_attention_module.py -k cuda -rA > $L/graph_test.log 2>&1
timeout -s ABRT 180 python3 - > $L/diag.log 2>&1 <<'PY'
import sys, torch
sys.path.insert(0, "tests")
from attention_cases import static_patterns, with_causal
from zoo.attention import sparse_attention
from zoo.attention.kernels import block_mask as BM, flex
pats, compiled_tiles = static_patterns(), BM._compiled_tiles
for name in ("dilated_window_per_head", "union", "learned", "sliding_window"):
    for causal in (False, True):
        p = with_causal(pats[name], causal)
        for n in (257, 321, 1001):
            g = torch.Generator(device="cuda").manual_seed(n)
            q, k, v = (torch.randn(2, 2, n, 64, device="cuda", generator=g, dtype=torch.bfloat16) for _ in range(3))
            ref = sparse_attention(q.double(), k.double(), v.double(), p, backend="dense")
            for build in ("compiled", "eager"):  # the BlockMask built as on the GPU, or as on the CPU
                BM._compiled_tiles = compiled_tiles if build == "compiled" else (lambda: BM._tile_tables)
                flex._fused_structure.cache_clear()
                out = flex.fused_flex_attention(q, k, v, p, scale=0.125, block=64)[0]
                err = ((out.double() - ref).abs().max() / ref.abs().max()).item()
                print(f"{build:8s} {name:24s} causal={causal!s:5s} n={n:5d} heads={p.head_groups()} err={err:.1e}"
                      f"{'  BAD' if err > 1e-2 else ''}", flush=True)
PY
ZOO_FLEX_BLOCK=64 timeout -s ABRT $(left 420) python3 tools/gpu_correctness.py --workers 14 --deadline $(left 400) \
  --lengths 257,1001 --dtypes bfloat16 \
  --patterns dense,sliding_window,dilated_window_r2,dilated_window_per_head,longformer,bigbird,union,intersection,prefix_lm,learned \
  --out $OUT/correctness.json > $L/corr.log 2>&1
timeout -s ABRT $(left 585) python3 tools/bench_attention.py --no-peers --no-long --no-sdpa --ab --ns 16384 \
  --patterns sliding_window,longformer,bigbird --deadline $(left 560) --out $OUT/attention > $L/attn.log 2>&1
keep_logs 40
grep -E "PASSED|FAILED|ERROR|passed|failed" $L/graph_test.log | tail -n 10
grep -c BAD $L/diag.log; grep BAD $L/diag.log | head -n 20
tail -n 14 $L/corr.log
grep -E "^\|" $L/attn.log | tail -n 14
