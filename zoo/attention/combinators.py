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


def _restrict(comp: Component, keep) -> Component:
    """The same component with its mask intersected with keep(b, h, i, j)."""
    inner = comp.mask
    return dataclasses.replace(comp, mask=lambda b, h, i, j: inner(b, h, i, j) & keep(b, h, i, j),
                               exact=False, _cache={})


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
        out = []
        for idx, kid in enumerate(self.patterns):
            earlier = self.patterns[:idx]

            def not_earlier(b, h, i, j, earlier=earlier):
                hit = torch.zeros((), dtype=torch.bool, device=i.device)
                for e in earlier:
                    hit = hit | e.allowed(_group(e, h, n_heads), i, j)
                return ~hit
            for c in kid.components(n_q, n_k, n_heads, k_start):
                out.append(_restrict(c, not_earlier) if earlier else c)
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
        first, rest = self.patterns[0], self.patterns[1:]

        def in_rest(b, h, i, j):
            ok = torch.ones((), dtype=torch.bool, device=i.device)
            for k in rest:
                ok = ok & k.allowed(_group(k, h, n_heads), i, j)
            return ok
        return [_restrict(c, in_rest) for c in first.components(n_q, n_k, n_heads, k_start)]


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

    def allowed(self, g, i, j, gq=None, gk=None):
        return self.base.allowed(g, i, j) & self._rule(i, j)

    def _components(self, n_q, n_k, n_heads, k_start):
        return [_restrict(c, lambda b, h, i, j: self._rule(i, j))
                for c in self.base.components(n_q, n_k, n_heads, k_start)]
