"""Session 25 diagnosis (run by h200_s25_call2.sh): Sparse Transformer fixed joined into one FlexAttention call
over [k; k[summary columns]] (kernels/joined.py) against its two pieces merged by log-sum-exp (the components,
ZOO_JOINED_KEYS=0), same process, at the attention benchmark's shapes (B x N = 65,536, H = 16, D = 64, bf16,
l = 128, c = 8): forward, forward+backward, the first call's seconds, the differences of outputs and gradients
from the components, and torch.profiler's top kernels of the joined call at 64k. Writes $OUT/s25_joined.json.
Call 4 (S25_CASE=class_block): the residue-class pieces (dilation 2's classes, strided's column) on the
64-token blocks fused_block picks for them against 128 (ZOO_FLEX_BLOCK=128), no profiles; writes
$OUT/s25_class_block.json."""
import os
import sys

sys.path.insert(0, os.getcwd())
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from diag import bench_inputs, measure, profile, save  # noqa: E402
from tools.bench_attention import fwd_bwd  # noqa: E402
from zoo.attention import build, sparse_attention  # noqa: E402

H, D = 16, 64
PATTERNS = {"fixed": build("fixed", stride=128, summary=8, causal=True),
            "fixed_split": build("fixed", stride=128, summary=8, causal=True, heads="split")}
VARIANTS = (("components", "ZOO_JOINED_KEYS", "0"), ("joined", "ZOO_JOINED_KEYS", "1"))
CLASS_BLOCK = os.environ.get("S25_CASE") == "class_block"
if CLASS_BLOCK:
    PATTERNS = {"dilated_window": build("dilated_window", left=511, right=0, dilation=2, causal=True),
                "strided": build("strided", stride=128, causal=True)}
    VARIANTS = (("block128", "ZOO_FLEX_BLOCK", "128"), ("block64", "ZOO_FLEX_BLOCK", "64"))

for n in (16384, 65536):
    q, k, v, do = bench_inputs(n, H, D)
    for name, p in PATTERNS.items():
        ref = None
        for var, switch, flag in VARIANTS:
            os.environ[switch] = flag
            ref = measure(lambda: sparse_attention(q, k, v, p, backend="flex"), q, k, v, do, ref,
                          N=n, pattern=name, variant=var)
    if n == 65536 and not CLASS_BLOCK:
        for var, switch, flag in VARIANTS:
            os.environ[switch] = flag
            profile(f"fixed_{var}", n, fwd_bwd(lambda: sparse_attention(q, k, v, PATTERNS["fixed"], backend="flex"),
                                                (q, k, v), do))
    del q, k, v, do
os.environ.pop(VARIANTS[0][1])
save("s25_class_block.json" if CLASS_BLOCK else "s25_joined.json")
