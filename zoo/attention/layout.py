"""Block layouts: how a pattern is cut into pieces a kernel can run.

Every pattern decomposes into disjoint *components*. A component picks a set of query positions
and a set of key positions (each in a processing order, e.g. sorted by residue class so a dilated
window becomes a plain band), says which key blocks each query block may touch, and carries the
exact token-level rule for its share of the pattern. Backends run each component as a
block-sparse attention over gathered queries and keys and merge the pieces by log-sum-exp.
Because components are disjoint, the merge is exactly softmax over their union.

The candidate key blocks are given either as per-query key ranges ``[lo, hi]`` (band-like parts:
windows, residue classes, chunks) or as a boolean block table (BigBird, learned layouts).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import Tensor

# mask(b, h, i, j) -> bool on ABSOLUTE positions; b, h, i, j are broadcastable int64 tensors.
MaskFn = Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]


@dataclass(frozen=True, eq=False)
class SortedBand:
    """A routed component as what it is in its sorted order, for kernels that run it there
    (kernels/routed.py) instead of mapping every slot back to its position: keys sorted by
    (group, position), ``order`` (B, H, N) the key index at each sorted slot (queries share it),
    ``inverse`` (B, H, N) the slot of each key index; slot s attends the slots of its own and the
    previous ``chunk`` (s // chunk), j <= i by position when ``causal``, and (left >= 0) not the
    pairs with -right <= i - j <= left."""

    order: Tensor
    inverse: Tensor
    chunk: int
    causal: bool
    left: int = -1
    right: int = -1


@dataclass(eq=False)
class Component:
    """One disjoint piece of a pattern, in the order a kernel processes it.

    q_pos / k_pos: absolute positions in processing order, shape (Nc,) for static pieces or
    (B|1, H|1, Nc) for data-dependent ones; -1 marks padding. None means "all, in natural order".
    ``mask`` is called as mask(b, h, i, j, *buffers) with ``buffers`` moved to the input's device.
    Exactly one of ``ranges`` (lo, hi: (…, Nq_c) inclusive key indices into k order; lo > hi means
    none) and ``table`` (bool (Hc|1, nQB_t, nKB_t) at ``table_block`` granularity over q/k order)
    gives the candidates. ``exact`` says the mask is nothing more than the range (lets kernels skip
    evaluating it on fully covered blocks).
    """

    mask: MaskFn
    heads: tuple[int, ...] | None = None
    q_pos: Tensor | None = None
    k_pos: Tensor | None = None
    ranges: tuple[Tensor, Tensor] | None = None
    table: Tensor | None = None
    table_block: int = 0
    table_offset: tuple[int, int] = (0, 0)
    exact: bool = False
    diag_bias: float = 0.0  # nonzero: self masked, rows with no other key take v_self (lse: self score + bias)
    per_class: int = 0  # r > 0: q/k orders are residue classes mod r, every candidate pair inside one class
    buffers: tuple = ()  # tensors the mask reads (tables): mask(b, h, i, j, *buffers)
    band: SortedBand | None = None  # a routed chunk band: the same piece, described in sorted order
    fused: Any = None  # a static Pattern whose one fused BlockMask may run this piece (anchor's window)
    _cache: dict = field(default_factory=dict, repr=False)

    def buffers_on(self, device) -> tuple:
        """The mask's tensors on ``device`` (kernels capture these, so a compiled kernel gets
        them as inputs rather than constants)."""
        if not self.buffers:
            return ()
        key = ("buffers", str(device))
        if key not in self._cache:
            self._cache[key] = tuple(t.to(device) for t in self.buffers)
        return self._cache[key]

    def n_q(self, n_q: int) -> int:
        return n_q if self.q_pos is None else self.q_pos.shape[-1]

    def n_k(self, n_k: int) -> int:
        return n_k if self.k_pos is None else self.k_pos.shape[-1]

    def blocks(self, n_q: int, n_k: int, bq: int, bk: int) -> Tensor:
        """Candidate key blocks per query block: int64 (Hc|1, nQB, K), -1 = padding. Cached."""
        key = (n_q, n_k, bq, bk)
        if key not in self._cache:
            nq, nk = self.n_q(n_q), self.n_k(n_k)
            if self.ranges is not None:
                out = ranges_to_blocks(*self.ranges, nq, nk, bq, bk)
            else:
                out = table_to_blocks(self.table, self.table_block, nq, nk, bq, bk, self.table_offset)
            self._cache[key] = out
        return self._cache[key]

    def full_blocks(self, n_q: int, n_k: int, bq: int, bk: int) -> Tensor | None:
        """Bool (…, nQB, K) marking candidate blocks that every query of the block fully allows."""
        if not self.exact or self.ranges is None or self.ranges[0].dim() != 1:
            return None
        key = ("full", n_q, n_k, bq, bk, bool(self.diag_bias))  # routed pieces of several rules share a cache
        if key not in self._cache:
            blocks = self.blocks(n_q, n_k, bq, bk)  # (1, nQB, K)
            lo, hi = _pad_rows(*self.ranges, self.n_q(n_q), bq, fill_lo=-1, fill_hi=-1)
            lo_max = lo.max(dim=-1).values  # (nQB,)
            hi_min = hi.min(dim=-1).values
            start, end = blocks * bk, blocks * bk + bk - 1
            nk = self.n_k(n_k)
            full = (blocks >= 0) & (start >= lo_max[:, None]) & (end <= hi_min[:, None]) & (end < nk)
            if self.diag_bias:  # self is masked: a block holding a (s, s) pair is never full
                q_first = torch.arange(full.shape[-2])[:, None] * bq  # (nQB, 1); q and k share one order
                full &= (end < q_first) | (start > q_first + bq - 1)
            self._cache[key] = full
        return self._cache[key]


def _pad_rows(lo: Tensor, hi: Tensor, nq: int, bq: int, fill_lo: int, fill_hi: int) -> tuple[Tensor, Tensor]:
    """Pad the query axis to whole blocks and fold it: (…, nQB, bq)."""
    n_blocks = -(-nq // bq)
    pad = n_blocks * bq - nq
    if pad:
        lo = torch.nn.functional.pad(lo, (0, pad), value=fill_lo)
        hi = torch.nn.functional.pad(hi, (0, pad), value=fill_hi)
    return lo.unflatten(-1, (n_blocks, bq)), hi.unflatten(-1, (n_blocks, bq))


def ranges_to_blocks(lo: Tensor, hi: Tensor, nq: int, nk: int, bq: int, bk: int) -> Tensor:
    """Per-query inclusive key ranges -> contiguous candidate key blocks per query block."""
    lo = lo.clamp(min=0)
    hi = hi.clamp(max=nk - 1)
    empty = lo > hi
    big = 1 << 40
    lo_b, hi_b = _pad_rows(lo.masked_fill(empty, big), hi.masked_fill(empty, -1), nq, bq, big, -1)
    first = lo_b.min(dim=-1).values // bk  # (…, nQB)
    last = hi_b.max(dim=-1).values // bk
    none = last < 0
    first = first.masked_fill(none, 0)
    count = (last - first + 1).masked_fill(none, 0)
    k = max(int(count.max()) if count.numel() else 0, 1)
    idx = first[..., None] + torch.arange(k, device=lo.device)  # (…, nQB, K)
    blocks = idx.masked_fill(torch.arange(k, device=lo.device) >= count[..., None], -1)
    if blocks.dim() == 2:
        blocks = blocks[None]
    return blocks


def table_to_blocks(table: Tensor, tb: int, nq: int, nk: int, bq: int, bk: int,
                    offset: tuple[int, int] = (0, 0)) -> Tensor:
    """Bool block table at granularity tb -> candidate kernel blocks (bq, bk), padded with -1."""
    h = table.shape[0]
    nqb, nkb = -(-nq // bq), -(-nk // bk)
    qo, ko = offset
    # absolute position of each kernel block's first/last token, mapped to table blocks
    q_first = (qo + torch.arange(nqb) * bq) // tb
    q_last = (qo + torch.clamp(torch.arange(nqb) * bq + bq - 1, max=nq - 1)) // tb
    k_first = (ko + torch.arange(nkb) * bk) // tb
    k_last = (ko + torch.clamp(torch.arange(nkb) * bk + bk - 1, max=nk - 1)) // tb
    # a kernel block pair is a candidate if any table block pair it overlaps is allowed
    cum = table.to(torch.int64).cumsum(1).cumsum(2)
    cum = torch.nn.functional.pad(cum, (1, 0, 1, 0))  # (h, nQB_t+1, nKB_t+1)
    a0, a1 = q_first[:, None], q_last[:, None] + 1
    c0, c1 = k_first[None, :], k_last[None, :] + 1
    hit = (cum[:, a1, c1] - cum[:, a0, c1] - cum[:, a1, c0] + cum[:, a0, c0]) > 0  # (h, nqb, nkb)
    k = max(int(hit.sum(-1).max()), 1)
    order = torch.sort(hit.to(torch.int8), dim=-1, descending=True, stable=True).indices[..., :k]
    valid = torch.gather(hit, -1, order)
    return order.masked_fill(~valid, -1).view(h, nqb, k)


def band_ranges(q_abs: Tensor, k_start: int, left: int, right: int, n_k: int) -> tuple[Tensor, Tensor]:
    """Key-index ranges for j in [p - left, p + right] with keys at k_start..k_start+n_k-1."""
    lo = (q_abs - left - k_start).clamp(min=0)
    hi = (q_abs + right - k_start).clamp(max=n_k - 1)
    return lo, hi


def residue_order(start: int, n: int, r: int) -> tuple[Tensor, Tensor]:
    """Positions start..start+n-1 sorted by (pos % r, pos), and where each class begins.

    Returns (order: (n,) absolute positions, seg_start: (r,) index of each residue class in order,
    aligned so that class c = seg index c).
    """
    pos = torch.arange(start, start + n)
    order = pos[torch.argsort(pos % r * (start + n + 1) + pos)]
    counts = torch.bincount(order % r, minlength=r)
    seg_start = torch.cumsum(counts, 0) - counts
    return order, seg_start
