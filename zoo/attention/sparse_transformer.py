"""Sparse Transformer patterns (Child et al. 2019): strided and fixed, as one union head or
split over heads. Strided columns and fixed summaries run as residue-class / compact-key pieces,
so no kernel walks every key block for them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from .layout import Component
from .patterns import Pattern, _band_component, _heads_of, _positive, _residue_component, register

@register
@dataclass(frozen=True)
class Strided(Pattern):
    """Sparse Transformer strided: A1 = |d| < l (d < l causal), A2 = d % l == 0.

    heads="union" gives every head A1 ∪ A2; heads="split" gives A1 to the first half of the heads
    and A2 to the second half."""

    stride: int = 128
    heads: str = "union"
    name: ClassVar[str] = "strided"
    fused_flex: ClassVar[bool] = False  # the permuted strided column beats one block mask
    kind: ClassVar[str] = "hybrid"
    complexity: ClassVar[str] = "O(N sqrt N)"

    def __post_init__(self):
        _positive("stride", self.stride, 1)
        if self.heads not in ("union", "split"):
            raise ValueError(f"heads must be 'union' or 'split', got {self.heads!r}")

    def head_groups(self):
        return 2 if self.heads == "split" else 1

    def validate_length(self, n: int) -> None:
        Pattern.validate_length(self, n)
        if self.stride > n:
            raise ValueError(f"stride must be in [1, sequence length {n}], got {self.stride}")

    def _a1(self, i, j):
        return (i - j).abs() < self.stride

    def _a2(self, i, j):
        return (i - j) % self.stride == 0

    def allowed(self, g, i, j, gq=None, gk=None):
        if self.heads == "union":
            return self._causal(i, j, self._a1(i, j) | self._a2(i, j))
        return self._causal(i, j, torch.where(g == 0, self._a1(i, j), self._a2(i, j)))

    def _components(self, n_q, n_k, n_heads, k_start):
        l = self.stride
        split = self.heads == "split"
        h1 = _heads_of(0, 2, n_heads) if split else None
        h2 = _heads_of(1, 2, n_heads) if split else None
        a1 = _band_component(self, n_q, n_k, k_start, l - 1, l - 1, heads=h1)
        if split:
            a2 = _residue_component(self, n_q, n_k, k_start, l, n_k, n_k,
                                    lambda b, h, i, j: self._causal(i, j, self._a2(i, j)), heads=h2)
        else:  # columns outside the local band (only d = 0 overlaps; keep it in A1)
            a2 = _residue_component(self, n_q, n_k, k_start, l, n_k, n_k,
                                    lambda b, h, i, j: self._causal(i, j, self._a2(i, j) & (i != j)),
                                    exact=False)
        return [a1, a2]


@register
@dataclass(frozen=True)
class Fixed(Pattern):
    """Sparse Transformer fixed: A1 = same block of l (i // l == j // l), A2 = summary columns
    j % l >= l - c. heads="split" as for strided."""

    stride: int = 128
    summary: int = 8
    heads: str = "union"
    name: ClassVar[str] = "fixed"
    fused_flex: ClassVar[bool] = False  # the gathered summary columns beat one block mask
    kind: ClassVar[str] = "hybrid"
    complexity: ClassVar[str] = "O(N sqrt N)"

    def __post_init__(self):
        _positive("stride", self.stride, 1)
        _positive("summary", self.summary, 1)
        if self.summary > self.stride:
            raise ValueError(f"summary must be in [1, stride={self.stride}], got {self.summary}")
        if self.heads not in ("union", "split"):
            raise ValueError(f"heads must be 'union' or 'split', got {self.heads!r}")

    head_groups = Strided.head_groups

    validate_length = Strided.validate_length

    def _a1(self, i, j):
        return i // self.stride == j // self.stride

    def _a2(self, i, j):
        return j % self.stride >= self.stride - self.summary

    allowed = Strided.allowed

    def joins(self, n):
        return n > self.stride - self.summary  # a summary column to append (and beside the natural keys
        # in one call they beat a second call: kernels/joined.py)

    def joined_parts(self, n):
        """The summary columns appended: a natural key serves its own block (A1), a copy the other
        blocks' summaries (union) or every summary (split's A2 heads). Same-block by shifts where l is a
        power of two (the kernel evaluates the mask per element of a partial tile)."""
        l, c, union = self.stride, self.summary, self.heads == "union"
        keys = torch.arange(n)
        pos = keys[keys % l >= l - c]  # (S,)
        bits = l.bit_length() - 1 if l & (l - 1) == 0 else None

        def fn(g, i, j, copy):
            same = (i >> bits) == (j >> bits) if bits is not None else self._a1(i, j)
            ok = (same != copy) if union else torch.where(g == 0, same & ~copy, copy)
            return self._causal(i, j, ok)
        return pos, fn, ()

    def joined_position(self):
        """pos[t] = (t // c) * l + l - c + t % c by shifts where c is a power of two (every zoo model's)."""
        l, c = self.stride, self.summary
        if c & (c - 1):
            return None
        bits = c.bit_length() - 1
        return lambda t: (t >> bits) * l + (l - c) + (t & (c - 1))

    def _components(self, n_q, n_k, n_heads, k_start):
        l, c = self.stride, self.summary
        split = self.heads == "split"
        q_abs = self._q_abs(n_q, n_k, k_start)
        start = q_abs // l * l
        lo, hi = start - k_start, (q_abs if self.causal else start + l - 1) - k_start
        a1 = Component(mask=lambda b, h, i, j: self._causal(i, j, self._a1(i, j)),
                       heads=_heads_of(0, 2, n_heads) if split else None,
                       ranges=(lo.clamp(min=0), hi.clamp(max=n_k - 1)), exact=True)
        keys = torch.arange(k_start, k_start + n_k)
        summ = keys[keys % l >= l - c]  # compact summary columns
        if split:
            lim = q_abs if self.causal else torch.full_like(q_abs, k_start + n_k)
            hi2 = torch.searchsorted(summ, lim, right=True) - 1
            a2 = Component(mask=lambda b, h, i, j: self._causal(i, j, self._a2(i, j)),
                           heads=_heads_of(1, 2, n_heads), k_pos=summ,
                           ranges=(torch.zeros_like(q_abs), hi2), exact=True)
        else:  # summaries of other blocks; causal: exactly those before the query's block
            lim = start - 1 if self.causal else torch.full_like(q_abs, k_start + n_k)
            hi2 = torch.searchsorted(summ, lim, right=True) - 1
            a2 = Component(mask=lambda b, h, i, j: self._causal(i, j, self._a2(i, j) & ~self._a1(i, j)),
                           k_pos=summ, ranges=(torch.zeros_like(q_abs), hi2), exact=self.causal)
        return [a1, a2] if len(summ) else [a1]
