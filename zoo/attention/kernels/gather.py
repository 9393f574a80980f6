"""Shared plumbing for component kernels: gather a component's queries/keys into its processing
order, and merge the per-component (out, lse) pieces back by log-sum-exp.

Merging softmax pieces: with lse_c = log sum_{j in c} exp(s_ij), the union's softmax output is
sum_c exp(lse_c - lse) out_c where lse = logsumexp_c lse_c. Rows with no key anywhere give zeros.

This plumbing cost more than the attention kernels on the GPU (H200, N=16k, strided: 11.3 ms
fwd+bwd, of which the kernels take ~4 ms), so two fast paths: a residue-class order covering a
whole axis is gathered as a reshape-transpose (a copy both ways, not index_select + index_add), and on CUDA the
merge runs as one compiled graph. ZOO_EAGER_PLUMBING=1 (read per call) turns both off.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import Tensor

from ..layout import Component
from .block_mask import raise_recompile_limits

_NEG = -1e30  # finite stand-in for -inf so gradients of empty rows stay 0, never NaN
# outputs at least this large (B*H*N*D) merge through the compiled graph: it compiles once per
# shape (seconds), which pays only at long sequences (H200, B x H = 64 sequences of 16k tokens:
# strided 11.3 -> 6.1 ms fwd+bwd with the transpose gathers); short ones, decoding and tests keep
# the eager merge
COMPILED_MERGE_MIN = 1 << 22


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
    q_stride: int = 0  # r > 0: queries are the residue order of the whole axis, put back by a transpose


def _eager_plumbing() -> bool:
    """ZOO_EAGER_PLUMBING=1: index_select gathers and the eager merge everywhere (A/B in one process)."""
    return os.environ.get("ZOO_EAGER_PLUMBING") == "1"


def _residue_stride(idx: Tensor, n: int) -> int:
    """r if idx (n,) is 0..n-1 sorted by (pos % r, pos) with r | n, else 0.

    That order is arange(n).view(n // r, r).t().flatten(), so gathering by it is a transpose."""
    if idx.dim() != 1 or idx.shape[0] != n or n == 0 or int(idx[0]) != 0:
        return 0
    r = int(idx[1]) if n > 1 else 1
    if r < 1 or n % r:
        return 0
    want = torch.arange(n, device=idx.device).view(n // r, r).t().flatten()
    return r if torch.equal(idx, want) else 0


def _memo(comp: Component, key: tuple, source, make):
    """make() cached in the component's cache, valid while its entry was made from ``source``:
    routed components share one cache dict (their BlockMask structure) across calls and hash
    rounds while their positions differ."""
    hit = comp._cache.get(key)
    if hit is None or hit[0] is not source:
        hit = comp._cache[key] = (source, make())
    return hit[1]


def _stride_of(comp: Component, pos: Tensor | None, which: str, offset: int, n: int) -> int:
    """_residue_stride of a component's static positions relative to an axis starting at 0 (cached)."""
    if pos is None or pos.dim() != 1 or offset != 0 or _eager_plumbing():
        return 0
    return _memo(comp, ("residue-stride", which, n), pos, lambda: _residue_stride(pos, n))


def _transpose_in(x: Tensor, r: int) -> Tensor:
    """x (B, H, n, D) -> (B, H, n, D) in residue order: row c * (n/r) + t is row t * r + c."""
    return x.unflatten(2, (x.shape[2] // r, r)).transpose(2, 3).flatten(2, 3)


def _transpose_out(x: Tensor, r: int) -> Tensor:
    """Inverse of _transpose_in for x (B, H, n[, D]) in residue order -> natural order."""
    return x.unflatten(2, (r, x.shape[2] // r)).transpose(2, 3).flatten(2, 3)


def _take(x: Tensor, idx: Tensor) -> Tensor:
    """x (B, H, N, D) gathered along N by idx of shape (N',) or (B|1, H|1, N')."""
    if idx.dim() == 1:
        return x.index_select(2, idx)
    b, h, _, d = x.shape
    idx = idx.expand(b, h, idx.shape[-1])
    return torch.gather(x, 2, idx[..., None].expand(b, h, idx.shape[-1], d))


def _on_device(comp: Component, name: str, t: Tensor, dev) -> Tensor:
    """t on ``dev``; a static component's host index tensors are copied once (a host-to-device
    copy per call also makes the host wait for the GPU's queue)."""
    if t.device == dev or _eager_plumbing():
        return t.to(dev)
    return _memo(comp, ("on-device", name, str(dev)), t, lambda: t.to(dev))


def head_index(comp: Component, n_heads: int, dev) -> Tensor:
    """(Hc,) the absolute heads a component covers, on ``dev`` (a subset's index is copied once)."""
    if comp.heads is None:
        return torch.arange(n_heads, device=dev)
    return _memo(comp, ("heads", str(dev)), comp.heads, lambda: torch.tensor(comp.heads, device=dev))


def head_of(comp: Component, heads: Tensor):
    """Inside a mask_mod: a gathered head's absolute head, read from ``heads`` (head_index) only for a
    subset; every head as itself otherwise (a table read per element of a partial tile costs more than
    none, H200 session 28)."""
    return (lambda h: heads[h]) if comp.heads is not None else (lambda h: h)


def take_heads(comp: Component, heads: Tensor, *xs: Tensor) -> tuple[Tensor, ...]:
    """Each x (B, H, N, D) cut to the component's heads (B, Hc, N, D)."""
    return xs if comp.heads is None else tuple(x.index_select(1, heads) for x in xs)


def put_heads(rows: Tensor, heads: Tensor, subset: bool, n_heads: int, fill: float) -> Tensor:
    """rows (B, Hc, N[, D]) of a component's heads -> (B, n_heads, N[, D]), ``fill`` elsewhere."""
    if not subset:
        return rows
    full = torch.full((rows.shape[0], n_heads) + rows.shape[2:], fill, dtype=rows.dtype, device=rows.device)
    return full.index_copy(1, heads, rows)


def gather(q: Tensor, k: Tensor, v: Tensor, comp: Component, k_start: int) -> Gathered:
    B, H, n_q, _ = q.shape
    n_k = k.shape[2]
    dev = q.device
    heads = head_index(comp, H, dev)
    q, k, v = take_heads(comp, heads, q, k, v)
    q0 = k_start + n_k - n_q
    q_stride = _stride_of(comp, comp.q_pos, "q", q0, n_q)
    k_stride = _stride_of(comp, comp.k_pos, "k", k_start, n_k)
    if comp.q_pos is None:
        q_abs = torch.arange(q0, q0 + n_q, device=dev)
        qc = q
    else:
        q_abs = _on_device(comp, "q_pos", comp.q_pos, dev)
        qc = _transpose_in(q, q_stride) if q_stride else _take(q, (q_abs - q0).clamp(min=0))
    if comp.k_pos is None:
        k_abs = torch.arange(k_start, k_start + n_k, device=dev)
        kc, vc = k, v
    else:
        k_abs = _on_device(comp, "k_pos", comp.k_pos, dev)
        if k_stride:
            kc, vc = _transpose_in(k, k_stride), _transpose_in(v, k_stride)
        else:
            k_idx = (k_abs - k_start).clamp(min=0)
            kc, vc = _take(k, k_idx), _take(v, k_idx)
    q_local = torch.where(q_abs >= 0, q_abs - q0, n_q)
    as3 = lambda t: t.view(1, 1, -1) if t.dim() == 1 else t  # noqa: E731
    return Gathered(qc, kc, vc, as3(q_abs), as3(k_abs), as3(q_local), heads,
                    permuted=comp.q_pos is not None, head_subset=comp.heads is not None, q_stride=q_stride)


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
    elif g.q_stride:  # a residue order of the whole axis (nqc == n_q)
        rows = _transpose_out(x, g.q_stride)
    else:
        base = torch.full((B, hc, n_q + 1) + tail, fill, dtype=x.dtype, device=x.device)
        idx = g.q_local[0, 0] if g.q_local.shape[0] == g.q_local.shape[1] == 1 else g.q_local
        rows = _rows_put(base, idx, x)[:, :, :n_q]
    return put_heads(rows, g.heads, g.head_subset, n_heads, fill)


def _weights(lses: Tensor) -> tuple[Tensor, Tensor]:
    """Stacked piece lses (C, …) -> each piece's softmax weight (C, …) (0 where it had no key) and
    the merged lse (…) (-inf where no piece had one)."""
    lse = torch.nan_to_num(lses, neginf=_NEG)
    total = torch.logsumexp(lse, dim=0)
    finite = torch.isfinite(lses)
    return torch.where(finite, torch.exp(lse - total), 0.0), torch.where(finite.any(0), total, float("-inf"))


def _merge(outs: tuple[Tensor, ...], lses: tuple[Tensor, ...], dtype: torch.dtype | None) -> tuple[Tensor, Tensor]:
    """outs (B,H,N,D) and lses (B,H,N) per piece -> merged (out cast to dtype, lse)."""
    w, lse = _weights(torch.stack(lses))  # (C, B, H, N), (B, H, N)
    out = sum(w[c][..., None] * outs[c] for c in range(len(outs)))  # (B, H, N, D), no (C, …, D) stack
    return (out if dtype is None else out.to(dtype)), lse


def merge_stacked(outs: Tensor, lses: Tensor, dtype: torch.dtype | None = None) -> tuple[Tensor, Tensor]:
    """Pieces already stacked, outs (C, …, D) and lses (C, …) -> merged (out cast to dtype, lse):
    one reduction instead of a sum of C terms (split-KV rows, kernels/global_rows.py)."""
    w, lse = _weights(lses)
    out = (w[..., None] * outs).sum(0)
    return (out if dtype is None else out.to(dtype)), lse


@lru_cache(maxsize=None)
def compiled(fn):
    """fn as one compiled graph (a graph per piece count, shape and dtype): the merge is ~15 small
    eager kernels over (B,H,N,D) fp32 forward and backward; the routed path's gathers and hashing use it too."""
    raise_recompile_limits()
    return torch.compile(fn, dynamic=False)


def plumbing(fn, on_cuda: bool, size: int):
    """``fn`` compiled where that pays: on CUDA for ``size`` >= COMPILED_MERGE_MIN elements, unless
    ZOO_EAGER_PLUMBING=1; else ``fn`` itself."""
    return compiled(fn) if on_cuda and size >= COMPILED_MERGE_MIN and not _eager_plumbing() else fn


def lse_dtype(lse: Tensor) -> Tensor:
    """A kernel's lse in the merge's dtype: fp32, or fp64 for fp64 inputs (tests compare fp64 pieces)."""
    return lse.to(torch.promote_types(lse.dtype, torch.float32))


def merge(pieces: list[tuple[Tensor, Tensor]], dtype: torch.dtype | None = None) -> tuple[Tensor, Tensor]:
    """Merge (out (B,H,N,D), lse (B,H,N)) pieces over disjoint key sets; lse=-inf marks none.
    ``dtype``: cast the output (inside the compiled graph on CUDA)."""
    if len(pieces) == 1:  # kernels already give zero rows where no key is allowed
        out, lse = pieces[0]
        return (out if dtype is None else out.to(dtype)), lse
    outs, lses = tuple(p[0] for p in pieces), tuple(p[1] for p in pieces)
    return plumbing(_merge, outs[0].is_cuda, outs[0].numel())(outs, lses, dtype)


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
    bias = next((c.diag_bias for c in components if c.diag_bias), 0.0)
    if not bias:
        return merge(pieces, q.dtype)
    outs, lses = tuple(p[0] for p in pieces), tuple(p[1] for p in pieces)
    # one graph on the GPU: eagerly its fp32 casts of q, k and the output, selects and self scores were
    # ~1.5 ms of lsh's 10.5 ms fwd+bwd at 16k x 4 (H200, session 20)
    return plumbing(_merge_alone, q.is_cuda, outs[0].numel())(outs, lses, q, k, v, kpm, scale, float(bias))


def _merge_alone(outs: tuple[Tensor, ...], lses: tuple[Tensor, ...], q: Tensor, k: Tensor, v: Tensor,
                 kpm: Tensor | None, scale: float, bias: float) -> tuple[Tensor, Tensor]:
    """merge, then fill_alone, then the cast to q's dtype: Reformer's rows."""
    out, lse = _merge(outs, lses, None)
    out, lse = fill_alone(q, k, v, out, lse, kpm, scale, bias)
    return out.to(q.dtype), lse
