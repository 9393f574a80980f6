"""Session 26 diagnosis (run by h200_s26_call*.sh) at the attention benchmark's shapes (H = 16, D = 64, bf16,
B = 65,536 // N), forward and forward+backward, same process, the differences of outputs and gradients from the
first variant of each case:
- S26_CASE=short: Sparse Transformer fixed joined (kernels/joined.py, its MIN_TOKENS lowered to 0) against its two
  pieces (ZOO_JOINED_KEYS=0) below the 16,384 tokens where the joined path starts (CIFAR's 3,072, ImageNet-64's
  12,288 among them);
- S26_CASE=tiles: FlexAttention tile variants (kernels/tiles.py's BWD_TILES / FWD_TILES_64 replaced per variant:
  stages, warps, the backward's 32-row tiles) for the patterns of S26_PATTERNS (S26_VARIANTS picks; call 1 ran
  the first eight). "base_again" repeats "base" last: a process's later variants ran slower forwards (dilated
  0.72 -> 1.03 ms in call 1 on unchanged forward tiles) as its compiled calls collect graphs.
Call 3 ran lsh and anchor (their outputs differ per call: LSH draws rotations). S26_NS picks the lengths,
S26_DEADLINE (seconds) stops starting new measurements. Writes $OUT/s26_<case>.json."""
import os
import sys
import time

sys.path.insert(0, os.getcwd())
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from diag import bench_inputs, measure, note, save  # noqa: E402
from tools.bench_attention import cases, routing_state  # noqa: E402
from zoo.attention import build, sparse_attention  # noqa: E402
from zoo.attention.kernels import joined, tiles  # noqa: E402

H, D = 16, 64
CASE = os.environ.get("S26_CASE", "short")
DEADLINE = time.time() + float(os.environ.get("S26_DEADLINE", "1e9"))
BASE_BWD, BASE_FWD = dict(tiles.BWD_TILES), dict(tiles.FWD_TILES_64)


def joined_from(n_min):
    def setup():
        os.environ["ZOO_JOINED_KEYS"] = "0" if n_min is None else "1"
        joined.MIN_TOKENS = 16384 if n_min is None else n_min
    return setup


def tile_variant(fwd=None, bwd=None):
    def setup():
        tiles.BWD_TILES = {**BASE_BWD, **(bwd or {})}
        tiles.FWD_TILES_64 = {**BASE_FWD, **(fwd or {})}
        tiles.BWD_TILES_32 = {}  # (call 3, after it became the default on 64-token blocks) "base" = calls 1-2's
    return setup


if CASE == "short":
    NS = os.environ.get("S26_NS", "3072,4096,8192,12288")
    PATTERNS = {"fixed": cases()["fixed"],
                "fixed_split": build("fixed", stride=128, summary=8, causal=True, heads="split")}
    VARIANTS = {"components": joined_from(None), "joined": joined_from(0)}
else:
    NS = os.environ.get("S26_NS", "16384")
    PATTERNS = {k: cases()[k] for k in os.environ.get("S26_PATTERNS", "dilated_window,fixed").split(",")}
    VARIANTS = {"base": tile_variant(), "fwd_stages2": tile_variant(fwd={"fwd_num_stages": 2}),
                "fwd_stages4": tile_variant(fwd={"fwd_num_stages": 4}),
                "fwd_warps8": tile_variant(fwd={"fwd_num_warps": 8}),
                "bwd_stages2": tile_variant(bwd={"bwd_num_stages": 2}),
                "bwd_stages4": tile_variant(bwd={"bwd_num_stages": 4}),
                "bwd_warps8": tile_variant(bwd={"bwd_num_warps": 8}),
                "bwd_m32": tile_variant(bwd={"bwd_BLOCK_M1": 32, "bwd_BLOCK_N2": 32}),
                "bwd_m1_32": tile_variant(bwd={"bwd_BLOCK_M1": 32}), "bwd_n2_32": tile_variant(bwd={"bwd_BLOCK_N2": 32}),
                "bwd_m32_stages4": tile_variant(bwd={"bwd_BLOCK_M1": 32, "bwd_BLOCK_N2": 32, "bwd_num_stages": 4}),
                "base_again": tile_variant()}  # the drift of a process whose compiled calls hold more graphs
    if os.environ.get("S26_VARIANTS"):
        VARIANTS = {k: VARIANTS[k] for k in os.environ["S26_VARIANTS"].split(",")}

for n in (int(x) for x in NS.split(",")):
    q, k, v, do = bench_inputs(n, H, D)
    for name, p in PATTERNS.items():
        ref = None
        for var, setup in VARIANTS.items():
            if time.time() > DEADLINE:
                note(N=n, pattern=name, variant=var, skipped="deadline")
                continue
            setup()
            state = routing_state(p, q.device)  # anchor layers' anchors (lsh draws rotations per call: err is noise)
            ref = measure(lambda: sparse_attention(q, k, v, p, backend="flex", **state), q, k, v, do, ref,
                          N=n, B=q.shape[0], pattern=name, variant=var)
    del q, k, v, do
save(f"s26_{CASE}.json")
