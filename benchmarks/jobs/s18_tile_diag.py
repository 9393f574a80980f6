"""Session 18, call 3: the compiled tile build against the eager one on the GPU (see h200_s18_call3.sh)."""
import sys

import torch

sys.path.insert(0, "tests")
from attention_cases import static_patterns, with_causal  # noqa: E402

from zoo.attention import sparse_attention  # noqa: E402
from zoo.attention.kernels import block_mask as BM, flex  # noqa: E402

eager = BM._tile_tables
BM.raise_recompile_limits()


def five_d(mask_mod, heads, q0, n_q, n_k, rows, nkb, block):
    qi = (q0 + torch.arange(rows, device=heads.device))[None, :, None]
    ki = torch.arange(nkb * block, device=heads.device)[None, None, :]
    b = torch.zeros((), dtype=torch.long, device=heads.device)
    ok = mask_mod(b, heads, qi.clamp(max=n_q - 1), ki.clamp(max=n_k - 1)) & (qi < n_q) & (ki < n_k)
    ok = ok.expand(heads.shape[0], rows, nkb * block).reshape(heads.shape[0], rows // block, block, nkb, block)
    return ok.any(4).any(2), ok.all(4).all(2)


def int8(mask_mod, heads, q0, n_q, n_k, rows, nkb, block):
    qi = (q0 + torch.arange(rows, device=heads.device))[None, :, None]
    ki = torch.arange(nkb * block, device=heads.device)[None, None, :]
    b = torch.zeros((), dtype=torch.long, device=heads.device)
    ok = mask_mod(b, heads, qi.clamp(max=n_q - 1), ki.clamp(max=n_k - 1)) & (qi < n_q) & (ki < n_k)
    ok = ok.to(torch.int8).expand(heads.shape[0], rows, nkb * block)
    ok = ok.reshape(heads.shape[0], rows // block, block, nkb, block)
    return ok.amax(dim=(2, 4)) > 0, ok.amin(dim=(2, 4)) > 0


def base_copy(*a):  # the same function under other inductor options (its own code object)
    return eager(*a)


CANDIDATES = {
    "compiled": BM._compiled_tiles(),
    "nosplit": torch.compile(base_copy, dynamic=False, options={"split_reductions": False}),
    "five_d": torch.compile(five_d, dynamic=False),
    "int8": torch.compile(int8, dynamic=False),
}


def synthetic(b, h, q, k):  # a per-head band: head h sees |q - k| <= 40 (h + 1)
    return (q - k).abs() <= 40 * (h + 1)


print("== 1. tables, synthetic per-head band", flush=True)
for heads, block, lengths in ((2, 64, (129, 200, 257, 300, 321, 385, 513, 1001)), (1, 64, (257,)), (4, 64, (257,)),
                              (2, 128, (257, 1001))):
    if True:
        for n in lengths:
            nkb = -(-n // block)
            h = torch.arange(heads, device="cuda")[:, None, None]
            q0 = torch.tensor(0, device="cuda")
            args = (synthetic, h, q0, n, n, nkb * block, nkb, block)
            he, fe = eager(*args)
            line = []
            for name, fn in CANDIDATES.items():
                try:
                    hc, fc = fn(*args)
                    d = int((hc != he).sum() + (fc != fe).sum())
                except Exception as e:  # noqa: BLE001
                    d = f"error {type(e).__name__}"
                line.append(f"{name}={d}")
            bad = any(not x.endswith("=0") for x in line)
            print(f"heads={heads} block={block:3d} n={n:5d} " + " ".join(line) + ("  DIFF" if bad else ""), flush=True)
            if bad and heads == 2 and block == 64 and n == 257:
                hc, fc = CANDIDATES["compiled"](*args)
                print("eager hit\n", he.int().cpu(), "\ncompiled hit\n", hc.int().cpu())
                print("eager full\n", fe.int().cpu(), "\ncompiled full\n", fc.int().cpu(), flush=True)

print("== 2. end to end, per-head patterns on 64-token blocks", flush=True)
pats = static_patterns()
for name, causal in (("dilated_window_per_head", False), ("dilated_window_per_head", True), ("union", False),
                     ("union", True), ("learned", False)):
    p = with_causal(pats[name], causal)
    for n in (257,):
        g = torch.Generator(device="cuda").manual_seed(n)
        q, k, v = (torch.randn(2, 2, n, 64, device="cuda", generator=g, dtype=torch.bfloat16) for _ in range(3))
        ref = sparse_attention(q.double(), k.double(), v.double(), p, backend="dense")
        for build, fn in list(CANDIDATES.items()) + [("eager", eager)]:
            BM._compiled_tiles = lambda fn=fn: fn
            flex._fused_structure.cache_clear()
            out = flex.fused_flex_attention(q, k, v, p, scale=0.125, block=64)[0]
            err = ((out.double() - ref).abs().max() / ref.abs().max()).item()
            print(f"{build:9s} {name:24s} causal={causal!s:5s} n={n:5d} err={err:.1e}{'  BAD' if err > 1e-2 else ''}",
                  flush=True)
print("done", flush=True)
