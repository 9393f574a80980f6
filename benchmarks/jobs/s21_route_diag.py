"""Session 21 diagnosis (run by h200_s21_call2.sh): the fused projection argmax (kernels/argmax_proj.py)
against the torch hashing / anchor assignment it replaces, its tile sizes and dot precisions (with the
share of ids equal to torch's fp32 ones), the sort that follows, and where lsh's and anchor's fwd+bwd
time goes after it (torch.profiler, top kernels). Shapes of the attention benchmark (B x N = 65,536,
H = 16, D = 64, bf16). Prints one line per measurement and writes $OUT/route_diag.json."""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.getcwd())
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from diag import note, profile, save  # noqa: E402
from tools.bench_attention import timeit  # noqa: E402
from zoo.attention import build, sparse_attention  # noqa: E402
from zoo.attention.anchors import assign, nearest, unit  # noqa: E402
from zoo.attention.kernels import argmax_proj as ap  # noqa: E402
from zoo.attention.kernels.gather import compiled  # noqa: E402
from zoo.attention.routing import _hash, lsh_rotations  # noqa: E402

H, D = 16, 64

for n in (16384, 65536):
    B = 65536 // n
    g = torch.Generator(device="cuda").manual_seed(0)
    k = torch.randn(B, H, n, D, device="cuda", dtype=torch.bfloat16, generator=g)
    lsh = build("lsh", bucket_size=64, n_hashes=2, chunk=64)
    nb = lsh.n_buckets(n)
    rot = lsh_rotations(0, H, D, 2, nb, "cuda").flatten(2)
    with torch.no_grad():
        want = _hash(k, rot, 2)
        note(N=n, what="hash_eager", ms=timeit(lambda: _hash(k, rot, 2)))
        note(N=n, what="hash_compiled", ms=timeit(lambda: compiled(_hash)(k, rot, 2)))
        w = rot[None].contiguous()
        for bm, bc, nw, prec in [(128, 64, 4, "tf32x3"), (64, 64, 4, "tf32x3"), (128, 128, 8, "tf32x3"),
                                 (128, 32, 4, "tf32x3"), (256, 64, 8, "tf32x3"), (128, 64, 4, "tf32"),
                                 (128, 64, 4, "ieee")]:
            out = torch.empty(2, B, H, n, dtype=torch.int64, device="cuda")
            try:
                ap.launch(k, w, out, True, bm, bc, nw, prec)
                same = (out == want).float().mean().item()
                note(N=n, what=f"fused_{bm}x{bc}_w{nw}_{prec}", equal_ids=same,
                     ms=timeit(lambda: ap.launch(k, w, out, True, bm, bc, nw, prec)))
            except Exception as e:  # a tile that does not fit: record and go on
                note(N=n, what=f"fused_{bm}x{bc}_w{nw}_{prec}", error=repr(e)[:300])
        note(N=n, what="buckets_default", ms=timeit(lambda: lsh.buckets(k)))
        ids = lsh.buckets(k)
        note(N=n, what="argsort_int64", ms=timeit(lambda: torch.argsort(ids, dim=-1, stable=True)))
        ids32 = ids.int()
        note(N=n, what="argsort_int32", ms=timeit(lambda: torch.argsort(ids32, dim=-1, stable=True)))
        note(N=n, what="lsh_route", ms=timeit(lambda: lsh.route(k, k)))
        anchors = F.normalize(torch.randn(H, 64, D, device="cuda", generator=g), dim=-1)
        a_want = assign(unit(k), anchors)
        note(N=n, what="anchor_assign_eager", ms=timeit(lambda: assign(unit(k), anchors)))
        note(N=n, what="anchor_nearest_fused", ms=timeit(lambda: nearest(k, anchors)),
             equal_ids=(nearest(k, anchors) == a_want).float().mean().item())
        anchor = build("anchor", n_anchors=64, chunk=64, window=64)
        note(N=n, what="anchor_route", ms=timeit(lambda: anchor.route(k, k, anchors=anchors)))
    q, v, do = (torch.randn_like(k) for _ in range(3))
    xs = [t.requires_grad_() for t in (q, k, v)]
    for name, p, state in (("lsh", lsh, {}), ("anchor", anchor, {"anchors": anchors})):
        step = lambda: torch.autograd.backward(sparse_attention(*xs, p, backend="flex", **state), do)  # noqa: E731
        note(N=n, what=f"{name}_fwdbwd", ms=timeit(step))
        profile(f"{name}_fwdbwd", n, step)
save("route_diag.json")
