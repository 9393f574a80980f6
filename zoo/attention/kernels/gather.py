"""Shared plumbing for component kernels: gather a component's queries/keys into its processing
order, and merge the per-component (out, lse) pieces back by log-sum-exp.

Merging softmax pieces: with lse_c = log sum_{j in c} exp(s_ij), the union's softmax output is
sum_c exp(lse_c - lse) out_c where lse = logsumexp_c lse_c. Rows with no key anywhere give zeros.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..layout import Component

_NEG = -1e30  # finite stand-in for -inf so gradients of empty rows stay 0, never NaN


@dataclass
class Gathered:
    """A component's tensors in processing order."""

    q: Tensor  # (B, Hc, Nqc, D)
    k: Tensor  # (B, Hc, Nkc, D)
    v: Tensor  # (B, Hc, Nkc, D)
    q_abs: Tensor  # (B|1, Hc|1, Nqc) absolute positions, -1 = padding
    k_abs: Tensor  # (B|1, Hc|1, Nkc)
    q_local: Tensor  # (B|1, Hc|1, Nqc) index into the caller's query axis (padding -> n_q)
    heads: Tensor  # (Hc,) absolute head index of each gathered head
    permuted: bool = True  # queries not in natural order (rows must be put back)
    head_subset: bool = False  # only some heads take part


def _take(x: Tensor, idx: Tensor | None) -> Tensor:
    """x (B, H, N, D) gathered along N by idx of shape (N',) or (B|1, H|1, N')."""
    if idx is None:
        return x
    if idx.dim() == 1:
        return x.index_select(2, idx)
    b, h, _, d = x.shape
    idx = idx.expand(b, h, idx.shape[-1])
    return torch.gather(x, 2, idx[..., None].expand(b, h, idx.shape[-1], d))


def gather(q: Tensor, k: Tensor, v: Tensor, comp: Component, k_start: int) -> Gathered:
    B, H, n_q, _ = q.shape
    n_k = k.shape[2]
    dev = q.device
    heads = torch.arange(H, device=dev) if comp.heads is None else torch.tensor(comp.heads, device=dev)
    if comp.heads is not None:
        q, k, v = q.index_select(1, heads), k.index_select(1, heads), v.index_select(1, heads)
    q0 = k_start + n_k - n_q
    if comp.q_pos is None:
        q_abs = torch.arange(q0, q0 + n_q, device=dev)
        q_idx = None
    else:
        q_abs = comp.q_pos.to(dev)
        q_idx = (q_abs - q0).clamp(min=0)
    if comp.k_pos is None:
        k_abs = torch.arange(k_start, k_start + n_k, device=dev)
        k_idx = None
    else:
        k_abs = comp.k_pos.to(dev)
        k_idx = (k_abs - k_start).clamp(min=0)
    qc, kc, vc = _take(q, q_idx), _take(k, k_idx), _take(v, k_idx)
    q_local = torch.where(q_abs >= 0, q_abs - q0, n_q)
    as3 = lambda t: t.view(1, 1, -1) if t.dim() == 1 else t  # noqa: E731
    return Gathered(qc, kc, vc, as3(q_abs), as3(k_abs), as3(q_local), heads,
                    permuted=comp.q_pos is not None, head_subset=comp.heads is not None)


def _rows_put(base: Tensor, idx: Tensor, x: Tensor) -> Tensor:
    """base (B, H, M[, D]) with rows idx (N',) or (B|1, H|1, N') along dim 2 replaced by x.

    Per-(b, h) indices go through one flat index_copy over rows of D contiguous values, which is
    much faster than scatter with an index expanded over D."""
    if idx.dim() == 1:
        return base.index_copy(2, idx, x)
    B, H, M = base.shape[:3]
    idx = idx.expand(B, H, idx.shape[-1])
    flat = (torch.arange(B * H, device=idx.device).view(B, H, 1) * M + idx).flatten()
    tail = base.shape[3:]
    return base.reshape((B * H * M,) + tail).index_copy(0, flat, x.reshape((-1,) + tail)).view(base.shape)


def scatter_rows(x: Tensor, g: Gathered, n_q: int, n_heads: int, fill: float) -> Tensor:
    """Put a component's rows (B, Hc, Nqc[, D]) back at their query positions in (B, H, n_q[, D])."""
    B, hc, nqc = x.shape[:3]
    tail = x.shape[3:]
    if not g.permuted:
        rows = x
    else:
        base = torch.full((B, hc, n_q + 1) + tail, fill, dtype=x.dtype, device=x.device)
        idx = g.q_local[0, 0] if g.q_local.shape[0] == g.q_local.shape[1] == 1 else g.q_local
        rows = _rows_put(base, idx, x)[:, :, :n_q]
    if not g.head_subset:
        return rows
    full = torch.full((B, n_heads) + rows.shape[2:], fill, dtype=x.dtype, device=x.device)
    return full.index_copy(1, g.heads, rows)


def merge(pieces: list[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
    """Merge (out (B,H,N,D), lse (B,H,N)) pieces over disjoint key sets; lse=-inf marks none."""
    if len(pieces) == 1:  # kernels already give zero rows where no key is allowed
        return pieces[0]
    lses = torch.stack([torch.nan_to_num(p[1], neginf=_NEG) for p in pieces])  # (C, B, H, N)
    total = torch.logsumexp(lses, dim=0)
    w = torch.exp(lses - total)  # (C, B, H, N)
    finite = torch.stack([torch.isfinite(p[1]) for p in pieces])
    w = torch.where(finite, w, 0.0)
    out = sum(w[c][..., None] * pieces[c][0] for c in range(len(pieces)))
    any_key = finite.any(0)
    return out, torch.where(any_key, total, float("-inf"))


def fill_alone(q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, kpm: Tensor | None, scale: float,
                bias: float) -> tuple[Tensor, Tensor]:
    """Rows that no other key reached attend to themselves alone: out = v_self exactly.

    Reformer adds ``bias`` (-1e5) to the self score instead; in fp32 that leaves the lse of such
    rows with an ulp of ~1e-2, so their outputs and gradients come out ~1e-2 off. Kernels mask
    self out and call this after the merge; the lse keeps the biased self score."""
    n_q = q.shape[2]
    k_self, v_self = k[:, :, -n_q:], v[:, :, -n_q:]  # queries are the last n_q key positions
    alone = ~torch.isfinite(lse)  # (B, H, n_q)
    if kpm is not None:
        alone = alone & kpm[:, None, -n_q:]
    out = torch.where(alone[..., None], v_self.to(out.dtype), out)
    ct = torch.promote_types(q.dtype, torch.float32)
    self_lse = (q.to(ct) * k_self.to(ct)).sum(-1) * scale + bias
    return out, torch.where(alone, self_lse, lse)


def combine(pieces: list[tuple[Tensor, Tensor]], components, q: Tensor, k: Tensor, v: Tensor,
            kpm: Tensor | None, scale: float) -> tuple[Tensor, Tensor]:
    """Every backend's last step: merge the pieces by log-sum-exp (zeros and -inf lse when no
    piece ran), give Reformer's alone rows v_self, cast to q's dtype. ``kpm`` is indexed by
    absolute key position (padded by k_start)."""
    if not pieces:
        return q.new_zeros(q.shape[:-1] + (v.shape[-1],)), q.new_full(q.shape[:-1], float("-inf"))
    out, lse = merge(pieces)
    bias = next((c.diag_bias for c in components if c.diag_bias), 0.0)
    if bias:
        out, lse = fill_alone(q, k, v, out, lse, kpm, scale, float(bias))
    return out.to(q.dtype), lse
