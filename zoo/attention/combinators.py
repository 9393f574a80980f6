"""Pattern combinators: union, intersection and prefix-LM masking of other patterns.

A union's components are each child's components with the earlier children's pairs removed, so
the pieces stay disjoint and merging them by log-sum-exp counts every pair once.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from .layout import Component
from .patterns import Dense, Pattern, _positive


def _as_pattern(p: Any) -> Pattern:
    """Accept a Pattern or a {"name": ..., **params} dict (YAML recipes)."""
    if isinstance(p, Pattern):
        return p
    if isinstance(p, dict):
        from .patterns import build
        params = dict(p)
        return build(params.pop("name"), **params)
    raise ValueError(f"patterns must hold Pattern objects or dicts with a 'name', got {p!r}")


def _group(p: Pattern, h, n_heads: int):
    return h * p.head_groups() // n_heads


def _restrict(comp: Component, keep, keep_bufs: tuple = ()) -> Component:
    """The same component with its mask intersected with keep(b, h, i, j, *keep_bufs)."""
    inner, n_in = comp.mask, len(comp.buffers)
    return dataclasses.replace(
        comp, mask=lambda b, h, i, j, *t: inner(b, h, i, j, *t[:n_in]) & keep(b, h, i, j, *t[n_in:]),
        buffers=comp.buffers + tuple(keep_bufs), exact=False, fused=None, _cache={})  # no longer that pattern


def _combine(kids, n: int, n_heads: int, reduce):
    """One traceable keep(b, h, i, j, *bufs) = reduce over kids' allowed (at their head groups)."""
    parts = [k.mask_parts(n) for k in kids]
    sizes = [len(b) for _, b in parts]
    bufs = tuple(t for _, b in parts for t in b)

    def keep(b, h, i, j, *t):
        out, at = None, 0
        for kid, (fn, _), size in zip(kids, parts, sizes):
            hit = fn(_group(kid, h, n_heads), i, j, *t[at:at + size])
            at += size
            out = hit if out is None else reduce(out, hit)
        return out
    return keep, bufs


@dataclass(frozen=True)
class _Combinator(Pattern):
    patterns: tuple = ()
    kind: ClassVar[str] = "hybrid"

    def __post_init__(self):
        kids = tuple(_as_pattern(p) for p in self.patterns)
        if len(kids) < 2:
            raise ValueError(f"patterns must hold at least 2 patterns for {self.name}, got {len(kids)}")
        if any(k.data_dependent for k in kids):
            raise ValueError(f"patterns of {self.name} must be data-independent (lsh/anchor route per input)")
        if self.causal:
            kids = tuple(dataclasses.replace(k, causal=True) for k in kids)
        object.__setattr__(self, "patterns", kids)

    def head_groups(self):
        return math.lcm(*(k.head_groups() for k in self.patterns))

    def validate_length(self, n):
        for k in self.patterns:
            k.validate_length(n)

    def _kid_allowed(self, k: Pattern, g, i, j):
        return k.allowed(g * k.head_groups() // self.head_groups(), i, j)

    @property
    def complexity(self):  # type: ignore[override]
        return " + ".join(k.complexity for k in self.patterns)

    def mask_parts(self, n):
        reduce = torch.logical_or if self.name == "union" else torch.logical_and
        keep, bufs = _combine(self.patterns, n, self.head_groups(), reduce)
        return (lambda g, i, j, *t: keep(None, g, i, j, *t)), bufs


@dataclass(frozen=True)
class Union(_Combinator):
    name: ClassVar[str] = "union"

    def allowed(self, g, i, j, gq=None, gk=None):
        out = self._kid_allowed(self.patterns[0], g, i, j)
        for k in self.patterns[1:]:
            out = out | self._kid_allowed(k, g, i, j)
        return out

    def lookback(self):
        looks = [k.lookback() for k in self.patterns]
        return None if any(x is None for x in looks) else max(looks)

    def _components(self, n_q, n_k, n_heads, k_start):
        out, n = [], k_start + n_k
        for idx, kid in enumerate(self.patterns):
            if idx:
                any_earlier, bufs = _combine(self.patterns[:idx], n, n_heads, torch.logical_or)

                def not_earlier(b, h, i, j, *t, f=any_earlier):
                    return ~f(b, h, i, j, *t)
            for c in kid.components(n_q, n_k, n_heads, k_start):
                out.append(_restrict(c, not_earlier, bufs) if idx else c)
        return out


@dataclass(frozen=True)
class Intersection(_Combinator):
    name: ClassVar[str] = "intersection"

    def allowed(self, g, i, j, gq=None, gk=None):
        out = self._kid_allowed(self.patterns[0], g, i, j)
        for k in self.patterns[1:]:
            out = out & self._kid_allowed(k, g, i, j)
        return out

    def lookback(self):
        looks = [k.lookback() for k in self.patterns if k.lookback() is not None]
        return min(looks) if looks else None

    def _components(self, n_q, n_k, n_heads, k_start):
        in_rest, bufs = _combine(self.patterns[1:], k_start + n_k, n_heads, torch.logical_and)
        return [_restrict(c, in_rest, bufs) for c in self.patterns[0].components(n_q, n_k, n_heads, k_start)]


@dataclass(frozen=True)
class PrefixLM(Pattern):
    """Bidirectional over the first ``prefix_len`` positions, causal after (captioning): j <
    prefix_len or j <= i, intersected with a bidirectional ``base`` pattern (default dense)."""

    prefix_len: int = 0
    base: Any = None
    name: ClassVar[str] = "prefix_lm"
    kind: ClassVar[str] = "hybrid"

    def __post_init__(self):
        _positive("prefix_len", self.prefix_len, 0)
        base = Dense() if self.base is None else _as_pattern(self.base)
        if base.data_dependent:
            raise ValueError("base of prefix_lm must be data-independent")
        object.__setattr__(self, "base", dataclasses.replace(base, causal=False))

    @property
    def complexity(self):  # type: ignore[override]
        return self.base.complexity

    def head_groups(self):
        return self.base.head_groups()

    def validate_length(self, n):
        self.base.validate_length(n)

    def _rule(self, i, j):
        return (j < self.prefix_len) | (j <= i)

    def mask_parts(self, n):
        fn, bufs = self.base.mask_parts(n)
        return (lambda g, i, j, *t: fn(g, i, j, *t) & self._rule(i, j)), bufs

    def allowed(self, g, i, j, gq=None, gk=None):
        return self.base.allowed(g, i, j) & self._rule(i, j)

    def _components(self, n_q, n_k, n_heads, k_start):
        return [_restrict(c, lambda b, h, i, j: self._rule(i, j))
                for c in self.base.components(n_q, n_k, n_heads, k_start)]
