"""Routed chunk bands (lsh rounds, anchor's cluster piece) run in their sorted order.

In sorted order a chunk band is static: slot s attends the slots of chunk s // chunk and of the
one before. The component path maps every slot back to its position and looks up both
positions' chunks (four table loads per score, every block partial, one FlexAttention call per
round); here the band is index arithmetic, every round runs in one call (rounds stacked on the
batch axis) on one cached BlockMask, and only causality, the window exclusion and padding read
the sorted positions. Gathers and unsorts are gathers by the permutation and its inverse both
ways (``_Permute``: compiled on the GPU, one call per direction for all tensors that share a
permutation). Self-attention only (Nq == Nk, no cache offset); ``ZOO_ROUTED_SORTED=0`` (read per
call) keeps the component path for A/B runs.
"""
from __future__ import annotations

import copy
import os

import torch
from torch import Tensor

from ..layout import Component
from .block_mask import component_structure, flex_complete
from .gather import lse_dtype, plumbing
from .tiles import fused_block


def _config(c: Component) -> tuple:
    b = c.band
    return (b.chunk, b.causal, b.left, b.right, bool(c.diag_bias))


def sorted_components(components: list[Component], q: Tensor, n_k: int, k_start: int) -> list[Component]:
    """The routed components this path runs (all of them or none): those carrying a ``band``, when
    every band agrees on its rule, on a device with FlexAttention's lse, for self-attention."""
    bands = [c for c in components if c.band is not None]
    if not bands or os.environ.get("ZOO_ROUTED_SORTED") == "0" or not flex_complete(q):
        return []
    if k_start or q.shape[2] != n_k or len({_config(c) for c in bands}) > 1:
        return []
    return bands


def _mask_mod(comp: Component, pos: Tensor, kpm: Tensor | None):
    """The band's rule on sorted slots: pos (R*B, H, n) the key index at each slot, kpm the same
    shape (True = real key) or None."""
    chunk, causal, left, right = comp.band.chunk, comp.band.causal, comp.band.left, comp.band.right
    no_self = bool(comp.diag_bias)  # Reformer: self only when alone, filled in after the merge

    def mask_mod(b, h, qi, ki):
        d = qi // chunk - ki // chunk
        ok = (d >= 0) & (d <= 1)
        if no_self:
            ok = ok & (qi != ki)  # one order for queries and keys: the same slot is the same token
        if causal or left >= 0:
            pq, pk = pos[b, h, qi], pos[b, h, ki]
            if causal:
                ok = ok & (pk <= pq)
            if left >= 0:
                ok = ok & ((pq - pk > left) | (pk - pq > right))
        if kpm is not None:
            ok = ok & kpm[b, h, ki]
        return ok
    return mask_mod


def _take(x: Tensor, idx: Tensor) -> Tensor:
    """x (…, n[, D]) gathered along n by idx (…, n) -> (…, n[, D])."""
    if x.dim() == idx.dim():
        return torch.gather(x, -1, idx)
    return torch.gather(x, -2, idx[..., None].expand(*idx.shape, x.shape[-1]))


def _take_sum(x: Tensor, idx: Tensor) -> Tensor:
    """sum over r of x[r] gathered by idx[r]: (R, …, n[, D]) -> (…, n[, D])."""
    return _take(x, idx).sum(0)


def _take_each(xs: tuple[Tensor, ...], idx: Tensor) -> tuple[Tensor, ...]:
    """Each x (S, …, n[, D]) (S = 1: shared by every round) gathered by idx (R, …, n) -> (R, …, n[, D])."""
    return tuple(_take(x.expand((idx.shape[0],) + x.shape[1:]), idx) for x in xs)


def _untake_each(gs: tuple[Tensor, ...], inv: Tensor, shared: tuple[bool, ...]) -> tuple[Tensor, ...]:
    """_take_each's backward: each g (R, …, n[, D]) gathered by the inverse permutations, summed over
    the rounds (-> (1, …)) where its input was shared."""
    return tuple(_take_sum(g, inv)[None] if s else _take(g, inv) for g, s in zip(gs, shared))


def _run_take(fn, xs: tuple[Tensor, ...], *args) -> tuple[Tensor, ...]:
    """fn(xs, *args), compiled on the GPU (one graph for every tensor): torch's index_select / index_add on
    rows of D = 64 bf16 values run one thread block per row (H200, 16k x 64 sequences: 1.3 ms per tensor, 8.7
    of lsh's 19 ms fwd+bwd; 0.16 ms compiled). A compiled call also costs ~0.1-0.2 ms of host time in its
    wrappers (guards, AOT autograd, launchers), which made anchor host-bound (benchmarks/attention_h200.json
    run 48's diagnosis), so the tensors that share a permutation go through one call."""
    rounds = args[0].shape[0]  # the permutations (R, B, H, n): each output holds R rows per input row
    return plumbing(fn, xs[0].is_cuda, rounds * max(x[0].numel() for x in xs))(xs, *args)


class _Permute(torch.autograd.Function):
    """ys[t][r] = xs[t][r or 0] gathered by the permutations idx[r] along n, for each x (S, B, H, n[, D])
    with S = R, or S = 1 shared by every round -> (R, B, H, n[, D]), in one compiled call each way. The
    backward gathers by the inverse permutations (summed over rounds when shared): a gather both ways,
    never a scatter."""

    @staticmethod
    def forward(ctx, idx: Tensor, inv: Tensor, *xs: Tensor) -> tuple[Tensor, ...]:
        ctx.save_for_backward(inv)
        ctx.shared = tuple(x.shape[0] == 1 for x in xs)
        return _run_take(_take_each, xs, idx)

    @staticmethod
    def backward(ctx, *gs: Tensor):
        (inv,) = ctx.saved_tensors
        return (None, None) + _run_take(_untake_each, gs, inv, ctx.shared)


def sorted_pieces(q: Tensor, k: Tensor, v: Tensor, comps: list[Component], *, scale: float, kpm: Tensor | None,
                  kernel_options: dict | None, run) -> list[tuple[Tensor, Tensor]]:
    """Every routed component of ``sorted_components`` as (out (B, H, n, Dv), lse (B, H, n)) pieces
    in natural order, through one FlexAttention call ``run(q, k, v, block_mask, scale, options)``."""
    B, H, n, D = q.shape
    R = len(comps)
    dev = q.device
    order = torch.stack([c.band.order for c in comps]).to(dev)  # (R, B, H, n) key index per slot
    inv = torch.stack([c.band.inverse for c in comps]).to(dev)  # (R, B, H, n) slot per key index
    qs, ks, vs = (x.reshape(R * B, H, n, x.shape[-1]) for x in _Permute.apply(order, inv, q[None], k[None], v[None]))
    pos = order.view(R * B, H, n)
    kpm_s = None
    if kpm is not None:  # (B, n) by key index -> (R*B, H, n) by slot
        kpm_s = torch.gather(kpm[None, :, None, :].expand(R, B, H, n), 3, order).view(R * B, H, n)
    block = fused_block(dev, q.dtype, n, D)
    # full blocks (mask skipped) only for exact components: bidirectional lsh; never anchor's (window exclusion)
    bm = copy.copy(component_structure(comps[0], n, n, n, n, block, block, dev, use_full=kpm is None))
    bm.mask_mod = _mask_mod(comps[0], pos, kpm_s)
    out, lse = run(qs, ks, vs, bm, scale, kernel_options)  # (R*B, H, n, D), (R*B, H, n)
    # (R, B, H, n, Dv), (R, B, H, n) in natural order
    out, lse = _Permute.apply(inv, order, out.view(R, B, H, n, v.shape[-1]), lse_dtype(lse.view(R, B, H, n)))
    # unbind, not out[r]: each select's backward zero-fills a whole (R, B, H, n, Dv) gradient and autograd
    # adds them (H200 profile, lsh at 16k: 4 select backwards 0.49 ms plus their fills and adds); unbind's stacks
    return list(zip(out.unbind(0), lse.unbind(0)))
