"""Session 27 diagnosis (run by h200_s27_call3.sh): the backward's 32-row steps (kernels/tiles.py BWD_TILES_32) in
the calls whose appended key copies walk every query block, at the attention benchmark's shapes (H = 16, D = 64,
bf16, B = 65,536 // N), forward and forward+backward, same process. Session 26's one A/B (run 60) had them winning
for Longformer's global copies at 64k (3.65 -> 3.41 ms) and losing for BigBird's (4.02 -> 4.34) and fixed joined
(7.90 -> 8.11), so flex._key_copies_tiles keeps 64 rows there; this repeats the A/B twice in alternating order
(base, rows32, base_again, rows32_again) so a per-pattern choice rests on more than one timing. S27_PATTERNS and
S27_NS pick the cases, S27_DEADLINE (seconds) stops starting new measurements. Writes $OUT/s27_copies.json.
S27_CASE=models (call 5): the zoo's fixed models' own strides (CIFAR's 96, ImageNet-64's 192, the LMs' 128 and 256)
at their lengths, joined (the default from 1,024 tokens, kernels/joined.py) against their two pieces
(ZOO_JOINED_KEYS=0): session 26 timed the joined path at stride 128 / summary 8 only. Writes $OUT/s27_models.json."""
import itertools
import os
import sys
import time

sys.path.insert(0, os.getcwd())
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from diag import bench_inputs, measure, note, save  # noqa: E402
from tools.bench_attention import cases  # noqa: E402
from zoo.attention import build, sparse_attention  # noqa: E402
from zoo.attention.kernels import flex, tiles  # noqa: E402

H, D = 16, 64
DEADLINE = time.time() + float(os.environ.get("S27_DEADLINE", "1e9"))
NS = os.environ.get("S27_NS", "65536")
PATTERNS = {k: cases()[k] for k in os.environ.get("S27_PATTERNS", "longformer,bigbird,fixed").split(",")}


def key_copies_rows(rows32):
    def setup():
        flex._key_copies_tiles = lambda q, bm, ko, _=None: tiles.flex_tiles(q, bm.BLOCK_SIZE, ko, rows32=rows32) or None
    return setup


def joined_keys(on):
    def setup():
        os.environ["ZOO_JOINED_KEYS"] = "1" if on else "0"
    return setup


if os.environ.get("S27_CASE") == "models":  # (name, n, pattern): each model's fixed layers at its length
    CASES = [(f"fixed_s{s}_c{c}", n, build("fixed", stride=s, summary=c, causal=True))
             for s, c, n in ((96, 16, 3072), (192, 16, 12288), (128, 32, 2048), (256, 64, 4096))]
    VARIANTS = {"components": joined_keys(False), "joined": joined_keys(True), "components_again": joined_keys(False)}
    OUT_NAME = "s27_models.json"
else:
    CASES = list(itertools.product(PATTERNS, (int(x) for x in NS.split(","))))
    CASES = [(name, n, PATTERNS[name]) for name, n in CASES]
    VARIANTS = {"base": key_copies_rows(False), "rows32": key_copies_rows(True),
                "base_again": key_copies_rows(False), "rows32_again": key_copies_rows(True)}
    OUT_NAME = "s27_copies.json"

for name, n, p in CASES:
    q, k, v, do = bench_inputs(n, H, D)
    ref = None
    for var, setup in VARIANTS.items():
        if time.time() > DEADLINE:
            note(N=n, pattern=name, variant=var, skipped="deadline")
            continue
        setup()
        ref = measure(lambda: sparse_attention(q, k, v, p, backend="flex"), q, k, v, do, ref,
                      N=n, B=q.shape[0], pattern=name, variant=var)
    del q, k, v, do
save(OUT_NAME)
