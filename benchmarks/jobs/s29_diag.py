"""Session 29 diagnosis (run by h200_s29_call2.sh): Longformer's global tokens at the attention benchmark's shapes
(window 510, 32 globals, H = 16, D = 64, bf16, B = 65,536 // N). At 16k the dispatcher runs one BlockMask (2.92 ms
fwd+bwd against 2.07 for the window alone, run 65), whose global query block walks every key block in one program
(forward and dQ) and whose global key block walks every query block (dK / dV); the copies of global_copies.py remove
both but cost more there (3.38-3.42 ms at any SPLIT). This times copies of only one side: the global rows as copies
with the global key columns left in the natural part (``rows``), or the reverse (``cols``), against both and
neither, alternating, same process, each against the first variant's output and gradients. S29_DEADLINE (seconds)
stops starting new cases. Writes $OUT/s29_globals.json."""
import os
import sys
import time

sys.path.insert(0, os.getcwd())
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from diag import bench_inputs, measure, note, save  # noqa: E402
from tools.bench_attention import cases  # noqa: E402
from zoo.attention import sparse_attention  # noqa: E402
from zoo.attention.kernels import global_copies  # noqa: E402

H, D = 16, 64
DEADLINE = time.time() + float(os.environ.get("S29_DEADLINE", "1e9"))
PLAN = global_copies.plan


def copies(rows: bool, cols: bool, split: int = 1024):
    """global_copies.plan as a variant: copies of the global rows and / or columns (neither: one BlockMask)."""
    def plan(pattern, n_q, n_k, k_start, block, grad):
        if not grad or not (rows or cols):
            return None
        return global_copies.Plan(n_k, pattern.global_rows() if rows else 0, pattern.global_cols() if cols else 0,
                                  block, split)
    return plan


VARIANTS = {"one": copies(False, False), "both": copies(True, True), "rows": copies(True, False),
            "cols": copies(False, True), "rows_2048": copies(True, False, 2048)}
ORDER = {16384: ["one", "rows", "cols", "both", "rows_2048", "one", "rows"],
         65536: ["both", "rows", "cols", "one", "both", "rows"]}
P = cases()["longformer"]
for n in [int(x) for x in os.environ.get("S29_NS", "16384,65536").split(",")]:
    q, k, v, do = bench_inputs(n, H, D)
    ref, seen = None, set()
    for name in ORDER[n]:
        if time.time() > DEADLINE:
            note(N=n, variant=name, skipped="deadline")
            continue
        global_copies.plan = VARIANTS[name]
        fn = lambda: sparse_attention(q, k, v, P, backend="flex")  # noqa: E731
        ref = measure(fn, q, k, v, do, ref, N=n, B=q.shape[0], pattern="longformer",
                      variant=name + ("_again" if name in seen else ""))
        seen.add(name)
    del q, k, v, do
global_copies.plan = PLAN
save("s29_globals.json")
