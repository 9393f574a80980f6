"""Session 24 diagnosis (run by h200_s24_call1.sh and call 2): global tokens as copies inside the pattern's one
BlockMask call (kernels/global_copies.py) against the one BlockMask (ZOO_GLOBAL_COPIES=0,
ZOO_SPLIT_GLOBAL_ROWS=0) and, without gradients, against the split-KV rows (kernels/global_rows.py),
at the attention benchmark's shapes (B x N = 65,536, H = 16, D = 64, bf16): forward (with and without
autograd recording), forward+backward, the differences of outputs and gradients, the first call's
seconds, and torch.profiler's top kernels at 64k. Call 1 ran it with the mask's copy index by // and %
(and SPLIT 512 / 2048 besides 1024: no difference); call 2 with shifts;
call 3 at 32k (S24_NS=32768); call 4 with the copies' plumbing apart from
the compiled FlexAttention call (ZOO_COPIES_APART=1, a switch of commit 510826a, removed after it lost).
Session 25 (h200_s25_call1.sh) chose variants (S24_VARIANTS) and added "copies_nopad": the row slots'
pad rows masked out (ZOO_COPIES_PAD_ROWS=0) against "copies", where they take the last global row's mask,
at 32k with the copies' MIN_TOKENS lowered (S24_MIN_TOKENS), and the profile at 64k (S24_PROFILE=1).
Prints one line per measurement and writes $OUT/s24_diag.json."""
import os
import sys
import time

import torch

sys.path.insert(0, os.getcwd())
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from diag import bench_inputs, note, profile, save  # noqa: E402
from tools.bench_attention import fwd_bwd, rel_err, timeit  # noqa: E402
from zoo.attention import build, sparse_attention  # noqa: E402
from zoo.attention.kernels import global_copies  # noqa: E402

if os.environ.get("S24_MIN_TOKENS"):  # session 25: the copies below their default length
    global_copies.MIN_TOKENS = int(os.environ["S24_MIN_TOKENS"])

H, D = 16, 64
PATTERNS = {"longformer": build("longformer", window=510, global_tokens=32),
            "bigbird": build("bigbird", block=128, window_blocks=3, global_blocks=1, random_blocks=3),
            "longformer_causal": build("longformer", window=510, global_tokens=32, causal=True)}
VARIANTS = {"one": {"ZOO_GLOBAL_COPIES": "0", "ZOO_SPLIT_GLOBAL_ROWS": "0"},
            "split_rows": {"ZOO_GLOBAL_COPIES": "0", "ZOO_SPLIT_GLOBAL_ROWS": "1"},
            "copies": {"ZOO_GLOBAL_COPIES": "1", "ZOO_SPLIT_GLOBAL_ROWS": "0"},
            "copies_apart": {"ZOO_GLOBAL_COPIES": "1", "ZOO_SPLIT_GLOBAL_ROWS": "0", "ZOO_COPIES_APART": "1"},
            "copies_nopad": {"ZOO_GLOBAL_COPIES": "1", "ZOO_SPLIT_GLOBAL_ROWS": "0", "ZOO_COPIES_PAD_ROWS": "0"}}
SWITCHES, ALL_VARIANTS = {k for e in VARIANTS.values() for k in e}, dict(VARIANTS)
if os.environ.get("S24_ONLY"):  # call 4: some patterns and variants only
    PATTERNS = {k: v for k, v in PATTERNS.items() if k in os.environ["S24_ONLY"].split(",")}
    VARIANTS = {k: v for k, v in VARIANTS.items() if k in ("one", "copies", "copies_apart")}
if os.environ.get("S24_VARIANTS"):  # session 25: the first is the reference
    VARIANTS = {k: ALL_VARIANTS[k] for k in os.environ["S24_VARIANTS"].split(",")}


def env(**kv):
    for k, v in kv.items():
        os.environ[k] = v


for n in [int(x) for x in os.environ.get("S24_NS", "16384,65536").split(",")]:
    q, k, v, do = bench_inputs(n, H, D)
    for name, p in PATTERNS.items():
        ref = None
        for var, e in VARIANTS.items():
            for key in SWITCHES:
                os.environ.pop(key, None)
            env(**e)
            fn = lambda: sparse_attention(q, k, v, p, backend="flex")  # noqa: E731
            try:
                t0 = time.perf_counter()
                with torch.no_grad():
                    out_ng = fn()
                torch.cuda.synchronize()
                first_nograd = time.perf_counter() - t0
                with torch.no_grad():
                    fwd_nograd = timeit(fn)
                if var == "split_rows":  # with gradients it is the one BlockMask
                    note(N=n, pattern=name, variant=var, fwd_nograd_ms=fwd_nograd, first_s=round(first_nograd, 2),
                         err_nograd_vs_one=rel_err(out_ng, ref[0]))
                    continue
                t0 = time.perf_counter()
                out = fn()
                grads = torch.autograd.grad(out, (q, k, v), do)
                torch.cuda.synchronize()
                first = time.perf_counter() - t0
                r = dict(N=n, pattern=name, variant=var, fwd_nograd_ms=fwd_nograd, fwd_ms=timeit(fn),
                         fwdbwd_ms=timeit(fwd_bwd(fn, (q, k, v), do)), first_s=round(first, 2),
                         first_nograd_s=round(first_nograd, 2))
                if ref is None:
                    ref = (out.detach(), *grads)
                else:
                    r.update(err_nograd=rel_err(out_ng, ref[0]), err_out=rel_err(out, ref[0]),
                             err_grads=[rel_err(a, b_) for a, b_ in zip(grads, ref[1:])])
                note(**r)
                del out, grads
            except Exception as ex:  # noqa: BLE001 - a failing variant is a row, not the end of the job
                note(N=n, pattern=name, variant=var, error=repr(ex)[:600])
    if n == 65536 and (os.environ.get("S24_NS") is None or os.environ.get("S24_PROFILE")):
        p = PATTERNS["longformer"]
        for var in ("copies",):
            for key in SWITCHES:
                os.environ.pop(key, None)
            env(**ALL_VARIANTS[var])
            profile(f"longformer_{var}", n, fwd_bwd(lambda: sparse_attention(q, k, v, p, backend="flex"), (q, k, v), do))
    del q, k, v, do
save("s24_diag.json")
