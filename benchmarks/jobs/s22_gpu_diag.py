"""Session 22 diagnosis (run by h200_s22_call1.sh), shapes of the attention benchmark (B x N = 65,536,
H = 16, D = 64, bf16):
1. the routing kernel's dots as three bf16 products (ZOO_ARGMAX_PRECISION=bf16x3) against tf32x3: time
   and the share of ids equal to torch's fp32 ones (lsh buckets, nearest anchors);
2. Longformer's / BigBird's global rows by split-KV without gradients (where the dispatcher now takes
   it) against the one BlockMask at 16k-64k tokens: forward time and difference;
3. where the split's forward+backward time goes at 64k (why it lost with gradients, run 42):
   torch.profiler's top kernels, split vs one BlockMask.
Prints one line per measurement and writes $OUT/s22_diag.json."""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.getcwd())
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from diag import note, profile, save  # noqa: E402
from tools.bench_attention import cases, rel_err, timeit  # noqa: E402
from zoo.attention import sparse_attention  # noqa: E402
from zoo.attention.anchors import assign, unit  # noqa: E402
from zoo.attention.kernels import argmax_proj as ap  # noqa: E402
from zoo.attention.kernels import global_rows as gr  # noqa: E402
from zoo.attention.routing import _hash, lsh_rotations  # noqa: E402

H, D = 16, 64


def data(n, grad=False):
    g = torch.Generator(device="cuda").manual_seed(0)
    return [torch.randn(max(1, 65536 // n), H, n, D, device="cuda", dtype=torch.bfloat16, generator=g)
            .requires_grad_(grad) for _ in range(3)]


# 1. routing kernel precision
for n in (16384, 65536):
    _, k, _ = data(n)
    B = k.shape[0]
    nb = cases()["lsh"].n_buckets(n)
    rot = lsh_rotations(0, H, D, 2, nb, "cuda").flatten(2)
    anchors = F.normalize(torch.randn(H, 64, D, device="cuda"), dim=-1)
    with torch.no_grad():
        want = _hash(k, rot, 2)
        a_want = assign(unit(k), anchors)
        w, a = rot[None].contiguous(), anchors.transpose(-1, -2)[None].contiguous()
        for prec in ap.PRECISIONS:
            out = torch.empty(2, B, H, n, dtype=torch.int32, device="cuda")
            ap.launch(k, w, out, True, precision=prec)
            note(N=n, what=f"lsh_kernel_{prec}", equal_ids=(out.long() == want).float().mean().item(),
                 ms=timeit(lambda: ap.launch(k, w, out, True, precision=prec)))
            out = torch.empty(1, B, H, n, dtype=torch.int32, device="cuda")
            ap.launch(k, a, out, False, precision=prec)
            note(N=n, what=f"anchor_kernel_{prec}", equal_ids=(out[0].long() == a_want).float().mean().item(),
                 ms=timeit(lambda: ap.launch(k, a, out, False, precision=prec)))
    del k

# 2. global rows without gradients: split vs one BlockMask
real_min = gr.MIN_TOKENS
for n in (16384, 32768, 65536):
    q, k, v = data(n)
    for name in ("longformer", "bigbird"):
        p = cases()[name]
        f = lambda: sparse_attention(q, k, v, p, backend="flex")  # noqa: E731
        with torch.no_grad():
            os.environ["ZOO_SPLIT_GLOBAL_ROWS"] = "0"
            one = f()
            one_ms = timeit(f)
            del os.environ["ZOO_SPLIT_GLOBAL_ROWS"]
            gr.MIN_TOKENS = 0  # force the split at every length here
            split = f()
            note(N=n, B=q.shape[0], what=f"{name}_nograd_fwd", one_blockmask_ms=one_ms, split_ms=timeit(f),
                 rel_err=rel_err(split, one), default_splits=n >= real_min)
            gr.MIN_TOKENS = real_min
    del q, k, v
    torch.cuda.empty_cache()

# 3. the split with gradients (forced) against the one BlockMask: where the backward goes
n = 65536
xs = data(n, grad=True)
do = torch.randn_like(xs[0])
p = cases()["longformer"]
step = lambda: torch.autograd.backward(sparse_attention(*xs, p, backend="flex"), do)  # noqa: E731
profile("longformer_one_blockmask_fwdbwd", n, step, top=14)
real_split = gr.split_rows
gr.split_rows = lambda p, n_q, n_k, k_start, grad: p.global_rows()
profile("longformer_split_fwdbwd", n, step, top=14)
gr.split_rows = real_split

save("s22_diag.json")
