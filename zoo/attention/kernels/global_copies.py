"""Global tokens without a serial program: the pattern's one BlockMask call, with copies of the
global key block and of the global query rows appended to k, v and q.

In one BlockMask over (q, k, v), Longformer's / BigBird's global tokens each give the kernel a
program that walks every block of the sequence: the global query block's forward (and its dQ)
walks every key block, and the global key block's dK/dV walks every query block. At 65,536 tokens
that is 1,024 serial tiles while the rest of the grid has long finished (H200: Longformer 117
useful TFLOP/s at 64k against 224 for its sliding window alone, attention_h200.json run 27; the
backward's share, run 44's profile: 2.99 ms of BlockMask backward).

Here the call runs on q' = [q; the first ``rows`` query rows once per SPLIT keys] and
k' = [k; the first ``cols`` keys once per SPLIT queries] (v' as k'): row copy s sees only keys
[s*SPLIT, (s+1)*SPLIT), key copy c serves only queries [c*SPLIT, (c+1)*SPLIT), and the natural part
keeps the pattern without its global rows and columns. Every program then walks at most SPLIT /
block tiles more than the window's. The row copies' (out, lse) merge by log-sum-exp into the rows'
outputs (in one compiled graph with the call, so the slices' gradients fuse); the copies' gradients
add into the originals' in place (appended.py).

Applies where autograd records the call (the backward's serial dK/dV program is what the copies
remove; without gradients the split-KV rows of global_rows.py run, as fast or faster for Longformer),
to self-attention without a cache, on lengths that the BlockMask's block (a power of two) divides,
from MIN_TOKENS on: below it the copies' fixed cost (the appended rows, the merge, their own tiles:
Longformer's copies take ~3.2 ms at every length, its sliding window alone 2.07, H200, attention_h200.json
runs 65 and 73) exceeds what the serial programs cost (its one BlockMask: 2.92 ms at 16k, 4.59 at 64k).
Copying one side only loses at both lengths (run 73: the rows alone leave the global key block's dK/dV
walking every query block, the key columns alone the global query block walking every key block). The price:
q, k, v are copied (at 64k, B x N = 65,536, peak memory 1.07 GiB against 0.51 for the one BlockMask,
run 52) and the first call compiles one graph more (~10 s against ~3 s). ``ZOO_GLOBAL_COPIES=0``
(read per call) keeps the one BlockMask.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import torch
from torch import Tensor

from .appended import append_repeats
from .block_mask import flex_lse, head_group, one_graph
from .gather import merge_stacked

SPLIT = 1024  # keys per row copy, queries per key copy: 16 tiles of 64 (a power of two)
# H200, bf16, B x N = 65,536 (s24_global_diag.py, each line one process; attention_h200.json runs 52 and 53),
# fwd+bwd ms, copies vs the one BlockMask: Longformer 3.92 vs 3.04 / 3.94 vs 3.55 / 3.94 vs 4.78 at 16k / 32k /
# 64k, BigBird 3.98 vs 3.45 / 4.02 vs 3.73 / 4.01 vs 4.36, causal Longformer 2.51 vs 1.99 / 2.51 vs 2.23 / 2.51
# vs 2.99. The copies cost about the same at every length; the one BlockMask's serial programs grow with it.
MIN_TOKENS = 64 * SPLIT


@dataclass(frozen=True)
class Plan:
    """How q', k' extend q, k (B, H, n, D): ``rows`` leading global query rows, copied ``row_copies``
    times (once per ``split`` keys) in slots of ``row_slot`` (rows rounded up to a power of two of at
    least a block); likewise the ``cols`` leading keys, once per ``split`` queries."""

    n: int
    rows: int
    cols: int
    block: int
    split: int  # SPLIT when planned
    pad_rows: bool = True  # a row slot's pad rows take the last global row's mask (ZOO_COPIES_PAD_ROWS=0: none)

    @property
    def row_slot(self) -> int:
        return _slot(self.rows, self.block)

    @property
    def col_slot(self) -> int:
        return _slot(self.cols, self.block)

    @property
    def row_copies(self) -> int:
        return -(-self.n // self.split) if self.rows else 0

    @property
    def col_copies(self) -> int:
        return -(-self.n // self.split) if self.cols else 0

    @property
    def n_q(self) -> int:
        return self.n + self.row_copies * self.row_slot

    @property
    def n_k(self) -> int:
        return self.n + self.col_copies * self.col_slot


def _slot(count: int, block: int) -> int:
    """Rows of one copy: ``count`` rounded up to a power of two of at least a block (0 for none), so
    the mask finds a copy and its row by shifts, not integer division (which the kernel evaluates per
    element of every partial tile: with // and % the copies ran slower than the one BlockMask, H200
    session 24 call 1)."""
    return max(block, 1 << (count - 1).bit_length()) if count else 0


def plan(pattern, n_q: int, n_k: int, k_start: int, block: int, grad: bool) -> Plan | None:
    """The copies for this call, or None where another path runs: no gradients (``grad``: autograd
    records the call), a cache (n_q != n_k, k_start), a block that is not a power of two or does not
    divide the length, a length below MIN_TOKENS, no global tokens, globals over a quarter of SPLIT,
    or ``ZOO_GLOBAL_COPIES=0``."""
    if (not grad or n_q != n_k or k_start or n_k % block or block & (block - 1) or n_k < max(MIN_TOKENS, 2 * SPLIT)
            or os.environ.get("ZOO_GLOBAL_COPIES") == "0"):
        return None
    rows, cols = min(pattern.global_rows(), n_q), min(pattern.global_cols(), n_k)
    if not (rows or cols) or max(rows, cols) > SPLIT // 4:
        return None
    return Plan(n_k, rows, cols, block, SPLIT, os.environ.get("ZOO_COPIES_PAD_ROWS") != "0")


def mask_mod(fn, bufs: tuple, p: Plan, groups: int, n_heads: int, kpm: Tensor | None = None):
    """The BlockMask's mask_mod on (q', k') indices: fn(g, i, j, *bufs) is the pattern's mask on
    absolute positions; ``kpm`` (B, n) the key padding mask. With ``p.pad_rows`` a row slot's pad rows
    in the blocks that hold global rows (discarded) take the last global row's mask, and blocks of pad
    rows only stay empty: where that row sees every key of its split (Longformer, BigBird) the copies'
    tiles are full and skip the mask in the kernel; the pad rows' zero output gradient keeps dQ, dK,
    dV exact."""
    n, rows, cols = p.n, p.rows, p.cols
    rs, cs = max(p.row_slot, 1), max(p.col_slot, 1)  # powers of two, as is split
    r_bits, c_bits, s_bits = rs.bit_length() - 1, cs.bit_length() - 1, p.split.bit_length() - 1
    rows_up = -(-rows // p.block) * p.block

    def mod(b, h, qi, ki):
        row_copy, key_copy = qi >= n, ki >= n
        r = (qi - n) & (rs - 1)
        if p.pad_rows and rows:  # only the pad rows in a block with global rows (a block of pad rows stays empty)
            r = torch.where(r < rows_up, r.clamp(max=rows - 1), r)
        i = torch.where(row_copy, r, qi)  # absolute positions
        j = torch.where(key_copy, (ki - n) & (cs - 1), ki)
        ok = fn(head_group(h, groups, n_heads), i, j, *bufs)
        natural = ~row_copy & ~key_copy & (i >= rows) & (j >= cols)
        from_copy = ~row_copy & key_copy & (j < cols) & (i >= rows) & (((ki - n) >> c_bits) == (qi >> s_bits))
        copy_rows = row_copy & ~key_copy & (i < rows) & ((ki >> s_bits) == ((qi - n) >> r_bits))
        ok = ok & (natural | from_copy | copy_rows)
        return ok if kpm is None else ok & kpm[b, j]
    return mod


def attention(q: Tensor, k: Tensor, v: Tensor, p: Plan, block_mask, scale: float,
              kernel_options: dict | None, flex=None, merged=None) -> tuple[Tensor, Tensor]:
    """q, k, v (B, H, n, D) -> (out (B, H, n, D), lse (B, H, n)) of the pattern: ``flex``
    (FlexAttention by default) on (q', k', v') with the copies' ``block_mask`` (n_q' x n_k'), then
    the row copies merged (``merged``: that step, compiled or not)."""
    qx = append_repeats(q, p.row_slot, p.row_copies)  # (B, H, n_q', D)
    kx, vx = append_repeats(k, p.col_slot, p.col_copies), append_repeats(v, p.col_slot, p.col_copies)  # (B, H, n_k', D)
    return (merged or attend_merged)(qx, kx, vx, p, block_mask, scale, kernel_options, flex)


def attend_merged(qx: Tensor, kx: Tensor, vx: Tensor, p: Plan, block_mask, scale: float,
                  kernel_options: dict | None, flex=None) -> tuple[Tensor, Tensor]:
    """``flex`` on the appended (q', k', v'), the row copies merged into the global rows."""
    from torch.nn.attention.flex_attention import flex_attention
    kw = {"kernel_options": kernel_options} if kernel_options else {}
    out, lse = flex_lse(flex or flex_attention, qx, kx, vx, block_mask=block_mask, scale=scale, **kw)
    if not p.rows:  # out (B, H, n_q', D), lse (B, H, n_q')
        return out[:, :, :p.n], lse[:, :, :p.n]
    r_out = out[:, :, p.n:].unflatten(2, (p.row_copies, p.row_slot))[:, :, :, :p.rows].movedim(2, 0)
    r_lse = lse[:, :, p.n:].unflatten(2, (p.row_copies, p.row_slot))[..., :p.rows].movedim(2, 0)
    r_out, r_lse = merge_stacked(r_out, r_lse, out.dtype)  # (B, H, rows, D), (B, H, rows)
    return torch.cat([r_out, out[:, :, p.rows:p.n]], 2), torch.cat([r_lse, lse[:, :, p.rows:p.n]], 2)


def compiled_attention():
    """``attention`` with FlexAttention and the merge as one graph (``one_graph``: the slices' gradients
    then fuse instead of autograd's whole-size zeros and adds; H200, Longformer at 64k: 3.95 ms fwd+bwd,
    against 5.28 with compiled FlexAttention alone and the rest eager, run 54); the appends stay outside
    it, so the copies' gradients add into the originals in place (appended.py)."""
    return functools.partial(attention, merged=one_graph(attend_merged))
