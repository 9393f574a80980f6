# Scratch (not for commit): flex vs reference for lsh/anchor on the GPU, with a proposed
# diag_bias score_mod patched into kernels/flex.py at run time.
import dataclasses
import sys
import time

import torch

import zoo.attention.kernels.flex as FX
from zoo.attention import build, sparse_attention
from zoo.attention.kernels.gather import gather, merge, scatter_rows

PATCH = "--patch" in sys.argv


def _score_mod(comp, g):
    if not comp.diag_bias:
        return None
    nqc, nkc = g.q.shape[2], g.k.shape[2]
    q_abs = g.q_abs.expand(g.q_abs.shape[0], g.q_abs.shape[1], nqc).contiguous()
    k_abs = g.k_abs.expand(g.k_abs.shape[0], g.k_abs.shape[1], nkc).contiguous()
    qb, qh = q_abs.shape[0] > 1, q_abs.shape[1] > 1
    kb, kh = k_abs.shape[0] > 1, k_abs.shape[1] > 1
    bias = float(comp.diag_bias)

    def score_mod(score, b, h, qi, ki):
        qa = q_abs[b if qb else 0, h if qh else 0, qi]
        ka = k_abs[b if kb else 0, h if kh else 0, ki]
        return torch.where(qa == ka, score + bias, score)
    return score_mod


def flex_attention(q, k, v, components, *, scale, key_padding_mask=None, k_start=0, block=128,
                   kernel_options=None):
    B, H, n_q, _ = q.shape
    n_k = k.shape[2]
    kpm = None
    if key_padding_mask is not None:
        kpm = torch.nn.functional.pad(key_padding_mask.bool(), (k_start, 0), value=False)
    pieces = []
    for comp in components:
        g = gather(q, k, v, comp, k_start)
        if g.q.shape[2] == 0 or g.k.shape[2] == 0:
            continue
        bm = FX._block_mask(comp, g, n_q, n_k, block, block, kpm)
        fn = FX._compiled()
        kw = {"block_mask": bm, "scale": scale}
        sm = _score_mod(comp, g)
        if sm is not None:
            kw["score_mod"] = sm
        from torch.nn.attention.flex_attention import AuxRequest
        out, aux = fn(g.q, g.k, g.v, return_aux=AuxRequest(lse=True), **kw)
        lse = aux.lse.float()
        pieces.append((scatter_rows(out, g, n_q, H, 0.0), scatter_rows(lse, g, n_q, H, float("-inf"))))
    out, lse = merge([(o.float(), l) for o, l in pieces]) if len(pieces) > 1 else merge(pieces)
    return out.to(q.dtype), lse


if PATCH or __name__ != "__main__":
    FX.flex_attention = flex_attention

def main():
    dev = "cuda"
    print(torch.__version__, torch.cuda.get_device_name(), "patched" if PATCH else "unpatched", flush=True)


    def rel(a, b):
        return ((a.double() - b.double()).abs().max() / b.double().abs().max().clamp(min=1.0)).item()


    def pats(n):
        c = 64
        return {
            "lsh1": build("lsh", bucket_size=64, n_hashes=1, chunk=c),
            "lsh2": build("lsh", bucket_size=64, n_hashes=2, chunk=c),
            "anchor": build("anchor", n_anchors=16, chunk=c, window=64),
        }


    # correctness: flex fp32/bf16 vs reference fp64 on the GPU
    for n in (257, 1024):
        for name, p0 in pats(n).items():
            for causal in (False, True):
                p = dataclasses.replace(p0, causal=causal)
                g = torch.Generator(device=dev).manual_seed(n)
                q64, k64, v64 = [torch.randn(2, 4, n, 64, device=dev, dtype=torch.float64, generator=g) for _ in range(3)]
                kpm = torch.ones(2, n, dtype=torch.bool, device=dev)
                kpm[0, n - n // 5:] = False
                # route once (fp64 keys) and reuse the same clusters for every dtype
                kw = {}
                if p.name == "anchor":
                    kw["clusters"] = p.clusters(k64)
                res = {}
                for dt in (torch.float64, torch.float32, torch.bfloat16):
                    q, k, v = [t.to(dt).requires_grad_() for t in (q64, k64, v64)]
                    be = "reference" if dt == torch.float64 else "flex"
                    if p.name == "lsh":  # hash the fp64 keys for every dtype so routing agrees
                        orig = p.buckets
                        object.__setattr__(p, "buckets", lambda kk, o=orig: o(k64))
                    out = sparse_attention(q, k, v, p, backend=be, key_padding_mask=kpm, **kw)
                    if p.name == "lsh":
                        object.__delattr__(p, "buckets")
                    gr = torch.autograd.grad(out.float().square().sum(), (q, k, v))
                    res[dt] = (out, gr)
                ref = res[torch.float64]
                e32 = max([rel(res[torch.float32][0], ref[0])] + [rel(a, b) for a, b in zip(res[torch.float32][1], ref[1])])
                e16 = max([rel(res[torch.bfloat16][0], ref[0])] + [rel(a, b) for a, b in zip(res[torch.bfloat16][1], ref[1])])
                print(f"n={n} {name} causal={causal}: fp32 {e32:.2e}  bf16 {e16:.2e}", flush=True)

    # speed: forward+backward, bf16, new random data every step (recompiles show up as slow steps)
    for n in (4096, 16384):
        for name, p in pats(n).items():
            p = dataclasses.replace(p, causal=True)
            times = []
            for step in range(6):
                q, k, v = [torch.randn(4, 8, n, 64, device=dev, dtype=torch.bfloat16, requires_grad=True) for _ in range(3)]
                torch.cuda.synchronize()
                t = time.perf_counter()
                out = sparse_attention(q, k, v, p, backend="flex")
                out.sum().backward()
                torch.cuda.synchronize()
                times.append(time.perf_counter() - t)
            route_t = []
            for step in range(5):
                torch.cuda.synchronize()
                t = time.perf_counter()
                comps = p.route(q, k)
                torch.cuda.synchronize()
                route_t.append(time.perf_counter() - t)
            print(f"speed n={n} {name}: fwd+bwd per step ms {[round(x * 1e3, 1) for x in times]}  route ms {min(route_t) * 1e3:.1f}", flush=True)
        qd, kd, vd = [torch.randn(4, 8, n, 64, device=dev, dtype=torch.bfloat16, requires_grad=True) for _ in range(3)]
        ts = []
        for _ in range(4):
            torch.cuda.synchronize()
            t = time.perf_counter()
            torch.nn.functional.scaled_dot_product_attention(qd, kd, vd, is_causal=True).sum().backward()
            torch.cuda.synchronize()
            ts.append(time.perf_counter() - t)
        print(f"speed n={n} sdpa dense causal: {min(ts) * 1e3:.1f} ms", flush=True)


if __name__ == '__main__':
    main()
