"""Session 20 diagnosis (run by h200_s20_call2.sh): where lsh's routing time goes, and what a row gather
of (B, H, n, 64) bf16 costs by each way torch offers, at the benchmark's shapes (B x N = 65,536, H = 16).
Prints one line per measurement and writes $OUT/route_diag.json."""
import json
import os
import sys

import torch

sys.path.insert(0, os.getcwd())
from zoo.attention import build  # noqa: E402
from zoo.attention.kernels.routed import _take  # noqa: E402
from zoo.attention.routing import lsh_rotations  # noqa: E402


def timeit(fn, warm=3, reps=10):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    a.record()
    for _ in range(reps):
        fn()
    b.record()
    torch.cuda.synchronize()
    return a.elapsed_time(b) / reps


rows = []
for n in (16384, 65536):
    B, H, D = 65536 // n, 16, 64
    p = build("lsh", bucket_size=64, n_hashes=2, chunk=64)
    k = torch.randn(B, H, n, D, device="cuda", dtype=torch.bfloat16)
    nb = p.n_buckets(n)
    x = k.float()
    rot = lsh_rotations(0, H, D, 2, nb, "cuda").flatten(2)
    xr = torch.einsum("bhnd,hdr->bhnr", x, rot)
    xr5 = xr.unflatten(-1, (2, nb // 2))
    groups = p.buckets(k)
    order = torch.argsort(groups, dim=-1, stable=True)
    phases = {
        "to_fp32": lambda: k.float(),
        "einsum_fp32": lambda: torch.einsum("bhnd,hdr->bhnr", x, rot),
        "einsum_bf16": lambda: torch.einsum("bhnd,hdr->bhnr", k, rot.bfloat16()),
        "max_min": lambda: (xr5.max(-1), xr5.min(-1)),
        "buckets": lambda: p.buckets(k),
        "argsort_stable": lambda: torch.argsort(groups, dim=-1, stable=True),
        "sort_key": lambda: torch.sort(groups * n + torch.arange(n, device="cuda"), dim=-1),
        "rank_scatter": lambda: torch.empty_like(order).scatter_(
            -1, order, torch.arange(n, device="cuda").expand_as(order)),
        "route": lambda: p.route(k, k),
    }
    with torch.no_grad():
        for name, fn in phases.items():
            rows.append(dict(N=n, what=name, ms=timeit(fn)))
            print(rows[-1], flush=True)
        idx = order  # (2, B, H, n)
        flat = (idx + (torch.arange(B * H, device="cuda") * n).view(1, B, H, 1)).flatten()
        compiled = torch.compile(_take, dynamic=False)
        gathers = {
            "index_select_flat": lambda: k.reshape(-1, D).index_select(0, flat),
            "torch_gather": lambda: _take(k.expand(2, B, H, n, D), idx),
            "compiled_gather": lambda: compiled(k.expand(2, B, H, n, D), idx),
            "copy_same_bytes": lambda: k.expand(2, B, H, n, D).contiguous(),
        }
        ref = _take(k.expand(2, B, H, n, D), idx)
        for name, fn in gathers.items():
            same = bool(torch.equal(fn().view(ref.shape), ref))
            rows.append(dict(N=n, what=name, ms=timeit(fn), equal=same))
            print(rows[-1], flush=True)
out = os.environ.get("OUT", ".")
with open(os.path.join(out, "route_diag.json"), "w") as f:
    json.dump({"gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "rows": rows}, f, indent=1)
