"""Exact, differentiable sparse attention on any device (what CPU training runs).

Each component is computed by gathering, per query block, only its candidate key blocks: memory
is O(N x keys per query), never N x N for local patterns. Pieces merge by log-sum-exp (gather.py).
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..layout import Component
from .gather import Gathered, combine, gather, scatter_rows


def _block_size(n: int, default: int = 64) -> int:
    return min(default, max(16, 1 << max(n - 1, 0).bit_length()))


def _pad(x: Tensor, n: int, dim: int, value=0) -> Tensor:
    extra = n - x.shape[dim]
    if extra <= 0:
        return x
    pad = [0, 0] * (x.dim() - dim - 1) + [0, extra]
    return torch.nn.functional.pad(x, pad, value=value)


def component_attention(g: Gathered, comp: Component, n_q: int, n_k: int, scale: float,
                        key_padding_mask: Tensor | None, bq: int, bk: int,
                        need_lse_grad: bool = True) -> tuple[Tensor, Tensor]:
    """Attention of one component: returns (out (B, Hc, Nqc, D), lse (B, Hc, Nqc))."""
    B, hc, nqc, D = g.q.shape
    nkc = g.k.shape[2]
    blocks = comp.blocks(n_q, n_k, bq, bk).to(g.q.device)  # (Hb, nQB, K)
    n_qb = blocks.shape[1]
    q = _pad(g.q, n_qb * bq, 2).unflatten(2, (n_qb, bq))  # (B, Hc, nQB, bq, D)
    key_idx = (blocks[..., None] * bk + torch.arange(bk, device=blocks.device)).flatten(-2)  # (Hb, nQB, Kk)
    k_valid = (blocks >= 0).repeat_interleave(bk, -1) & (key_idx < nkc)
    key_idx = torch.where(k_valid, key_idx, 0)
    hb = blocks.shape[0]
    flat = key_idx.flatten(1)  # (Hb, nQB*Kk)
    if hb == 1:
        kg = g.k.index_select(2, flat[0]).unflatten(2, key_idx.shape[1:])  # (B, Hc, nQB, Kk, D)
        vg = g.v.index_select(2, flat[0]).unflatten(2, key_idx.shape[1:])
    else:
        idx = flat[None, :, :, None].expand(B, hb, flat.shape[1], D)
        kg = torch.gather(g.k, 2, idx).unflatten(2, key_idx.shape[1:])
        vg = torch.gather(g.v, 2, idx).unflatten(2, key_idx.shape[1:])
    # absolute positions of every (query, key) slot
    qa = _pad(g.q_abs, n_qb * bq, 2, value=-1).unflatten(2, (n_qb, bq))  # (B|1, Hc|1, nQB, bq)
    ka_src = g.k_abs  # (B|1, Hc|1, Nkc)
    if hb == 1:
        ka = ka_src[:, :, flat[0]]
    elif ka_src.shape[1] == 1:
        ka = ka_src[:, 0][:, flat]  # (B|1, Hb, nQB*Kk)
    else:
        ka = torch.gather(ka_src, 2, flat[None].expand(ka_src.shape[0], hb, flat.shape[1]))
    ka = ka.unflatten(2, key_idx.shape[1:])  # (B|1, Hx, nQB, Kk)
    b_idx = torch.arange(B, device=q.device).view(B, 1, 1, 1, 1)
    h_idx = g.heads.view(1, hc, 1, 1, 1)
    i = qa[..., :, None]
    j = ka[..., None, :]
    allowed = comp.mask(b_idx, h_idx, i, j, *comp.buffers_on(q.device)) & (i >= 0) & (j >= 0)
    allowed = allowed & k_valid[None, :, :, None, :]
    if comp.diag_bias:  # Reformer's "self only when alone": see gather.fill_alone
        allowed = allowed & (i != j)
    if key_padding_mask is not None:
        allowed = allowed & key_padding_mask[b_idx, j.clamp(min=0)]
    compute = torch.float32 if q.dtype in (torch.float16, torch.bfloat16) else q.dtype
    s = torch.einsum("bhqid,bhqjd->bhqij", q.to(compute), kg.to(compute)) * scale  # (B,Hc,nQB,bq,Kk)
    row_any = allowed.any(-1).expand(s.shape[:-1])  # (B, Hc, nQB, bq)
    # rows with no key get zeros instead of -inf so no NaN flows; their output is zeroed below
    s = torch.where(allowed, s, torch.where(row_any[..., None], float("-inf"), 0.0))
    p = torch.softmax(s, dim=-1)  # autograd keeps only p
    if need_lse_grad:
        lse = torch.logsumexp(s, dim=-1)
    else:
        with torch.no_grad():
            lse = torch.logsumexp(s, dim=-1)
    out = torch.einsum("bhqij,bhqjd->bhqid", p, vg.to(compute))
    out = out.masked_fill(~row_any[..., None], 0.0).flatten(2, 3)[:, :, :nqc].to(g.q.dtype)
    lse = torch.where(row_any, lse, float("-inf")).flatten(2, 3)[:, :, :nqc]
    return out, lse


def reference_attention(q: Tensor, k: Tensor, v: Tensor, components: list[Component], *,
                        scale: float, key_padding_mask: Tensor | None = None, k_start: int = 0,
                        block: int = 64) -> tuple[Tensor, Tensor]:
    """Run every component and merge. q (B, H, Nq, D), k/v (B, H, Nk, D) -> (out, lse)."""
    B, H, n_q, _ = q.shape
    n_k = k.shape[2]
    bq, bk = _block_size(n_q, block), _block_size(n_k, block)
    kpm = None
    if key_padding_mask is not None:  # index by absolute key position
        kpm = torch.nn.functional.pad(key_padding_mask.bool(), (k_start, 0), value=False)
    pieces = []
    for comp in components:
        g = gather(q, k, v, comp, k_start)
        if g.q.shape[2] == 0 or g.k.shape[2] == 0:
            continue
        out, lse = component_attention(g, comp, n_q, n_k, scale, kpm, bq, bk, need_lse_grad=len(components) > 1)
        pieces.append((scatter_rows(out, g, n_q, H, 0.0), scatter_rows(lse, g, n_q, H, float("-inf"))))
    return combine(pieces, components, q, k, v, kpm, scale)
