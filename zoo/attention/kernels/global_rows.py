"""Global query rows by split-KV (Longformer's and BigBird's global tokens, bidirectional, on the GPU).

In one BlockMask a global query block walks every key block inside one thread block: at 65,536
tokens 1,024 key blocks run serially while the rest of the grid has long finished (H200, run 27:
Longformer 117 useful TFLOP/s at 64k against 224 for its sliding window alone). Here the
pattern's BlockMask leaves its leading global rows out (``WithoutRows``), and those rows run as a
second FlexAttention call whose queries are the rows repeated once per split of SPLIT keys: the
query block of split s sees only split s's key blocks (``Splits``), so the splits run in parallel
thread blocks and read k and v in place (no copies). Their (out, lse) merge by log-sum-exp into the
rows' outputs, which replace the BlockMask's empty ones.

Forward only (no autograd graph: evaluation, generation) and from MIN_TOKENS on; with gradients, from
65,536 tokens, the global tokens run as copies inside the pattern's own call (global_copies.py). With
gradients the split lost on the H200 (attention_h200.json run 42: Longformer fwd+bwd 4.75 vs 4.49 ms at 64k, 3.69
vs 3.05 at 16k; BigBird 4.82 vs 4.49, 4.17 vs 3.56): the global key columns still make one dK/dV
program walk every query block, so the backward keeps its serial tail (run 44's profile at 64k: the
two backward kernels 3.45 ms against the one BlockMask's 2.99), and autograd adds the rows' whole dk
and dv to the BlockMask's (0.55 vs 0.28 ms of adds); the forward halves (0.70 vs 1.39 ms of kernels).
ZOO_SPLIT_GLOBAL_ROWS=0 (read per call) keeps the one BlockMask always, as do compiled blocks that run
attention inside their own graph (``fused_block_mask``: one BlockMask, no second call).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from ..patterns import Pattern
from .gather import merge_stacked, plumbing

SPLIT = 1024  # keys per split: 16 key blocks of 64 per thread block
# H200, forward without gradients (run 44's diagnosis), split vs one BlockMask: Longformer 0.80 vs 0.85 /
# 0.81 vs 1.09 / 0.81 vs 1.54 ms at 16k / 32k / 64k, BigBird 1.11 vs 0.97 / 1.12 vs 1.13 / 1.13 vs 1.44
MIN_TOKENS = 32 * SPLIT


@dataclass(frozen=True)
class _ByMask(Pattern):
    """A kernel-side pattern defined by ``allowed`` alone; its reference piece (CPU tests) is one dense
    piece under that mask."""

    def _components(self, n_q, n_k, n_heads, k_start):
        return [self._dense_component(n_q, n_k, k_start, mask=lambda b, h, i, j: self.allowed(h, i, j))]


@dataclass(frozen=True)
class WithoutRows(_ByMask):
    """``inner`` without its first ``rows`` query rows (absolute positions < rows)."""

    inner: Pattern | None = None
    rows: int = 0
    name: ClassVar[str] = "without_rows"

    def head_groups(self) -> int:
        return self.inner.head_groups()

    def allowed(self, g, i, j, gq=None, gk=None):
        return self.inner.allowed(g, i, j) & (i >= self.rows)

    def mask_parts(self, n):
        return _rows_from(self.inner.mask_parts(n), self.rows)

    def kernel_mask_parts(self, n):
        return _rows_from(self.inner.kernel_mask_parts(n), self.rows)


def _rows_from(parts: tuple, rows: int) -> tuple:
    fn, bufs = parts
    return (lambda g, i, j, *b: fn(g, i, j, *b) & (i >= rows)), bufs


@dataclass(frozen=True)
class Splits(_ByMask):
    """Queries: ``splits`` groups of ``rows`` (the last splits * rows positions of ``n`` keys, as
    FlexAttention places fewer queries than keys); group s sees keys [s * SPLIT, (s + 1) * SPLIT)."""

    n: int = 0
    splits: int = 1
    rows: int = 1
    name: ClassVar[str] = "splits"

    def allowed(self, g, i, j, gq=None, gk=None):
        return j // SPLIT == (i - (self.n - self.splits * self.rows)) // self.rows


def split_rows(pattern: Pattern, n_q: int, n_k: int, k_start: int, grad: bool) -> int:
    """How many leading rows to run by split-KV: the pattern's global rows, for self-attention over at
    least MIN_TOKENS without gradients (``grad``: autograd records this call), unless
    ZOO_SPLIT_GLOBAL_ROWS=0."""
    if (grad or n_q != n_k or k_start or n_k < max(MIN_TOKENS, SPLIT + 1)
            or os.environ.get("ZOO_SPLIT_GLOBAL_ROWS") == "0"):
        return 0
    rows = min(pattern.global_rows(), n_q)
    return rows if rows <= SPLIT // 4 else 0  # a few global tokens; more rows: the one BlockMask


def attention(q: Tensor, k: Tensor, v: Tensor, pattern: Pattern, rows: int, block: int, attend,
              **kw) -> tuple[Tensor, Tensor]:
    """``pattern`` over q (B, H, N, D), k, v with its first ``rows`` rows by split-KV -> (out, lse).
    ``attend(q, k, v, pattern, block=..., **kw)`` runs one fused BlockMask -> (out, lse)."""
    B, H, n, D = q.shape
    out, lse = attend(q, k, v, WithoutRows(inner=pattern, rows=rows), block=block, **kw)  # rows < `rows` empty
    padded = -(-rows // block) * block  # each split's rows fill whole query blocks
    splits = -(-n // SPLIT)
    qs = torch.nn.functional.pad(q[:, :, :rows], (0, 0, 0, padded - rows))  # (B, H, padded, D)
    qs = qs[:, :, None].expand(B, H, splits, padded, D).flatten(2, 3)  # (B, H, splits * padded, D)
    g_out, g_lse = attend(qs, k, v, Splits(n=n, splits=splits, rows=padded), block=block, **kw)
    return plumbing(_put_rows, q.is_cuda, out.numel())(g_out, g_lse, out, lse, splits, rows)


def _put_rows(g_out: Tensor, g_lse: Tensor, out: Tensor, lse: Tensor, splits: int, rows: int) -> tuple[Tensor, Tensor]:
    """The split rows' pieces (B, H, splits * padded[, Dv]) merged into the first ``rows`` rows of
    (out (B, H, N, Dv), lse (B, H, N)); one compiled graph on the GPU at long lengths."""
    g_out = g_out.unflatten(2, (splits, -1))[:, :, :, :rows].movedim(2, 0)  # (splits, B, H, rows, Dv)
    g_lse = g_lse.unflatten(2, (splits, -1))[..., :rows].movedim(2, 0)  # (splits, B, H, rows)
    g_out, g_lse = merge_stacked(g_out, g_lse, out.dtype)
    return torch.cat([g_out, out[:, :, rows:]], 2), torch.cat([g_lse, lse[:, :, rows:]], 2)
