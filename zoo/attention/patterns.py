"""Sparse-attention patterns: one frozen dataclass per family.

For a data-independent pattern ``allowed(g, i, j)`` (and ``token_mask``, built from it) IS the
definition: every backend must equal softmax(q k^T / sqrt(D)) restricted to it. ``components``
cuts the same set into disjoint block-friendly pieces (see layout.py) that backends execute.
Positions: keys sit at ``k_start .. k_start + n_k - 1``; queries are the last ``n_q`` of those
positions (bottom-right alignment, so a decoding step with one query lines up with the cache).
Papers: Longformer (Beltagy et al. 2020), BigBird (Zaheer et al. 2020), Sparse Transformer
(Child et al. 2019), Reformer (Kitaev et al. 2020).
"""
from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar

import torch
from torch import Tensor

from .layout import Component, band_ranges, residue_order

_REGISTRY: dict[str, type["Pattern"]] = {}


def _positive(name: str, value: int, minimum: int = 1) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def register(cls):
    _REGISTRY[cls.name] = cls
    return cls


@dataclass(frozen=True)
class Pattern:
    """Base class. Subclasses set name, kind ('local' | 'global' | 'hybrid') and complexity."""

    causal: bool = False
    name: ClassVar[str] = "pattern"
    kind: ClassVar[str] = "local"
    complexity: ClassVar[str] = "O(N^2)"
    data_dependent: ClassVar[bool] = False
    accepts_global_mask: ClassVar[bool] = False

    # --- definition -------------------------------------------------------------------------
    def head_groups(self) -> int:
        """How many distinct head behaviours the pattern has; n_heads must be a multiple."""
        return 1

    def allowed(self, g: Tensor, i: Tensor, j: Tensor, gq: Tensor | None = None, gk: Tensor | None = None) -> Tensor:
        """Truth on absolute positions (broadcasting int64 tensors); g is the head group."""
        raise NotImplementedError(f"{self.name} is data-dependent: it has no static token mask")

    def _causal(self, i: Tensor, j: Tensor, ok: Tensor) -> Tensor:
        return ok & (j <= i) if self.causal else ok

    def mask_parts(self, n: int) -> tuple:
        """(fn(g, i, j, *bufs), bufs): ``allowed`` for positions < n in a form a compiled kernel
        can trace (tables passed as tensors, no Python-side reads of tensor values)."""
        return (lambda g, i, j: self.allowed(g, i, j)), ()

    def lookback(self) -> int | None:
        """Largest i - j a causal query can see (None: unbounded). Bounds the KV cache."""
        return None

    # --- checks and helpers -------------------------------------------------------------------
    def validate(self, n_q: int, n_k: int, n_heads: int | None = None) -> None:
        if n_heads is not None and n_heads % self.head_groups():
            raise ValueError(
                f"n_heads must be a multiple of {self.head_groups()} for {self.describe()}, got {n_heads}")

    def validate_length(self, n: int) -> None:
        """Check the pattern suits a model whose sequences are up to n tokens long."""
        _positive("sequence length", n, 1)

    def head_group_index(self, n_heads: int | None) -> Tensor:
        groups = self.head_groups()
        if n_heads is None:
            return torch.arange(groups)
        return torch.arange(n_heads) * groups // n_heads

    def token_mask(self, n_q: int, n_k: int | None = None, n_heads: int | None = None,
                   k_start: int = 0, device: Any = None) -> Tensor:
        """Bool (H or 1, n_q, n_k): the pattern's definition, materialised (small N only)."""
        n_k = n_q if n_k is None else n_k
        self.validate(n_q, n_k, n_heads)
        i = torch.arange(k_start + n_k - n_q, k_start + n_k, device=device)[None, :, None]
        j = torch.arange(k_start, k_start + n_k, device=device)[None, None, :]
        g = self.head_group_index(n_heads).to(device)[:, None, None]
        if self.head_groups() == 1:
            g = g[:1]
        return self.allowed(g, i, j).expand(g.shape[0], n_q, n_k)

    def components(self, n_q: int, n_k: int, n_heads: int, k_start: int = 0) -> list[Component]:
        """Disjoint block-friendly pieces whose union is the pattern (cached per shape)."""
        self.validate(n_q, n_k, n_heads)
        return _components_cached(self, n_q, n_k, n_heads, k_start)

    def _components(self, n_q: int, n_k: int, n_heads: int, k_start: int) -> list[Component]:
        raise NotImplementedError

    def describe(self) -> str:
        params = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self))
        return f"{self.name}({params})"

    def _q_abs(self, n_q: int, n_k: int, k_start: int) -> Tensor:
        return torch.arange(k_start + n_k - n_q, k_start + n_k)

    def _dense_component(self, n_q, n_k, k_start, mask, heads=None, q_pos=None, k_pos=None) -> Component:
        """All keys for the given queries (global rows), the range trimmed by causality."""
        q_abs = self._q_abs(n_q, n_k, k_start) if q_pos is None else q_pos
        nk = n_k if k_pos is None else k_pos.shape[-1]
        lo = torch.zeros_like(q_abs)
        hi = (q_abs - k_start).clamp(max=nk - 1) if (self.causal and k_pos is None) else torch.full_like(q_abs, nk - 1)
        return Component(mask=mask, heads=heads, q_pos=q_pos, k_pos=k_pos, ranges=(lo, hi))


@lru_cache(maxsize=256)
def _components_cached(pattern: Pattern, n_q: int, n_k: int, n_heads: int, k_start: int) -> list[Component]:
    return pattern._components(n_q, n_k, n_heads, k_start)


def _band_component(p: Pattern, n_q, n_k, k_start, left, right, extra=None, heads=None) -> Component:
    """A plain band j in [p-left, p+right] (right = 0 when causal); exact unless ``extra`` masks."""
    right = 0 if p.causal else right
    q_abs = p._q_abs(n_q, n_k, k_start)
    lo, hi = band_ranges(q_abs, k_start, left, right, n_k)

    def mask(b, h, i, j):
        ok = (i - j <= left) & (j - i <= right)
        return ok & extra(b, h, i, j) if extra is not None else ok
    return Component(mask=mask, heads=heads, ranges=(lo, hi), exact=extra is None)


def _residue_component(p: Pattern, n_q, n_k, k_start, r, left, right, mask, heads=None, exact=True) -> Component:
    """Attention inside residue classes pos % r, window [t-left, t+right] in class units."""
    q_start = k_start + n_k - n_q
    q_order, _ = residue_order(q_start, n_q, r)
    k_order, _ = residue_order(k_start, n_k, r)
    if n_q < r:  # a decoding step: only the queries' own classes, not every cached key
        k_order = k_order[torch.isin(k_order % r, q_order % r)]
    counts = torch.bincount(k_order % r, minlength=r)
    k_seg = torch.cumsum(counts, 0) - counts
    cls = q_order % r
    # index of the query's own position within its class among the keys (keys cover queries)
    t = (q_order - k_start - ((cls - k_start) % r)) // r
    seg0 = k_seg[cls]
    seg1 = seg0 + counts[cls] - 1
    lo = torch.maximum(seg0 + t - left, seg0)
    hi = torch.minimum(seg0 + t + (0 if p.causal else right), seg1)
    return Component(mask=mask, heads=heads, q_pos=q_order, k_pos=k_order, ranges=(lo, hi), exact=exact)


def _heads_of(group: int, groups: int, n_heads: int) -> tuple[int, ...]:
    return tuple(h for h in range(n_heads) if h * groups // n_heads == group)


# ------------------------------------------------------------------------------------------------
@register
@dataclass(frozen=True)
class Dense(Pattern):
    name: ClassVar[str] = "dense"
    kind: ClassVar[str] = "global"
    complexity: ClassVar[str] = "O(N^2)"

    def allowed(self, g, i, j, gq=None, gk=None):
        return self._causal(i, j, torch.ones_like(i - j, dtype=torch.bool))

    def _components(self, n_q, n_k, n_heads, k_start):
        c = self._dense_component(n_q, n_k, k_start, mask=lambda b, h, i, j: self.allowed(h, i, j))
        c.exact = True
        return [c]


@register
@dataclass(frozen=True)
class SlidingWindow(Pattern):
    """-right <= i - j <= left (a causal window of w keys: left = w - 1, right = 0)."""

    left: int = 256
    right: int = 256
    name: ClassVar[str] = "sliding_window"
    kind: ClassVar[str] = "local"
    complexity: ClassVar[str] = "O(wN)"

    def __post_init__(self):
        _positive("left", self.left, 0)
        _positive("right", self.right, 0)

    def allowed(self, g, i, j, gq=None, gk=None):
        return self._causal(i, j, (i - j <= self.left) & (j - i <= self.right))

    def lookback(self):
        return self.left

    def _components(self, n_q, n_k, n_heads, k_start):
        return [_band_component(self, n_q, n_k, k_start, self.left, self.right)]


@register
@dataclass(frozen=True)
class DilatedWindow(Pattern):
    """Longformer's dilated window: d % r == 0 and -right*r <= d <= left*r; left/right count keys.

    ``dilation`` may be a per-head list (heads split into contiguous groups, one per entry).
    """

    left: int = 256
    right: int = 256
    dilation: int | tuple[int, ...] = 2
    name: ClassVar[str] = "dilated_window"
    kind: ClassVar[str] = "local"
    complexity: ClassVar[str] = "O(wN)"

    def __post_init__(self):
        _positive("left", self.left, 0)
        _positive("right", self.right, 0)
        if isinstance(self.dilation, list):
            object.__setattr__(self, "dilation", tuple(self.dilation))
        for r in self._dilations():
            _positive("dilation", r, 1)

    def _dilations(self) -> tuple[int, ...]:
        return self.dilation if isinstance(self.dilation, tuple) else (self.dilation,)

    def head_groups(self):
        return len(self._dilations())

    def allowed(self, g, i, j, gq=None, gk=None):
        r = torch.tensor(self._dilations(), device=i.device)[g]
        d = i - j
        return self._causal(i, j, (d % r == 0) & (d <= self.left * r) & (-d <= self.right * r))

    def lookback(self):
        return self.left * max(self._dilations())

    def mask_parts(self, n):
        def fn(g, i, j, r):
            r, d = r[g], i - j
            return self._causal(i, j, (d % r == 0) & (d <= self.left * r) & (-d <= self.right * r))
        return fn, (torch.tensor(self._dilations()),)

    def _components(self, n_q, n_k, n_heads, k_start):
        groups = self.head_groups()
        out = []
        for r in sorted(set(self._dilations())):
            heads = tuple(h for h in range(n_heads) if self._dilations()[h * groups // n_heads] == r)
            if len(heads) == n_heads:
                heads = None

            def mask(b, h, i, j, r=r):
                d = i - j
                return self._causal(i, j, (d % r == 0) & (d <= self.left * r) & (-d <= self.right * r))
            if r == 1:
                out.append(_band_component(self, n_q, n_k, k_start, self.left, self.right, heads=heads))
            else:
                out.append(_residue_component(self, n_q, n_k, k_start, r, self.left, self.right, mask, heads))
        return out


@register
@dataclass(frozen=True)
class Longformer(Pattern):
    """|i - j| <= window/2, or i or j global. Globals: the first ``global_tokens`` positions, or a
    per-example ``global_mask`` (B, N) given at call time (CLS, question tokens)."""

    window: int = 512
    global_tokens: int = 1
    name: ClassVar[str] = "longformer"
    kind: ClassVar[str] = "hybrid"
    complexity: ClassVar[str] = "O(wN)"
    accepts_global_mask: ClassVar[bool] = True

    def __post_init__(self):
        _positive("window", self.window, 1)
        _positive("global_tokens", self.global_tokens, 0)

    def allowed(self, g, i, j, gq=None, gk=None):
        gq = i < self.global_tokens if gq is None else gq
        gk = j < self.global_tokens if gk is None else gk
        return self._causal(i, j, ((i - j).abs() <= self.window // 2) | gq | gk)

    def _components(self, n_q, n_k, n_heads, k_start):
        w, n_g = self.window // 2, self.global_tokens
        q_abs = self._q_abs(n_q, n_k, k_start)
        loc_q = q_abs[q_abs >= n_g]
        comps = []
        if len(loc_q):  # local band, then the global key columns outside it
            lo, hi = band_ranges(loc_q, k_start, w, 0 if self.causal else w, n_k)
            comps.append(Component(mask=lambda b, h, i, j: self._causal(i, j, (i - j).abs() <= w),
                                   q_pos=loc_q, ranges=(lo, hi), exact=True))
            g_keys = torch.arange(k_start, min(n_g, k_start + n_k))
            if len(g_keys):
                zero = torch.zeros_like(loc_q)
                comps.append(Component(mask=lambda b, h, i, j: self._causal(i, j, (i - j).abs() > w),
                                       q_pos=loc_q, k_pos=g_keys, ranges=(zero, zero + len(g_keys) - 1)))
        glob_q = q_abs[q_abs < n_g]
        if len(glob_q):  # global rows: a separate dense pass, so no query block walks every key block
            comps.append(self._dense_component(
                n_q, n_k, k_start, mask=lambda b, h, i, j: self._causal(i, j, i >= 0), q_pos=glob_q))
            comps[-1].exact = True
        return comps

    def global_components(self, global_mask: Tensor, n_heads: int) -> list[Component]:
        """Pieces for a per-example global mask (B, N): band, global columns, global rows."""
        n = global_mask.shape[1]
        w = self.window // 2
        gm = global_mask.bool()
        count = int(gm.sum(1).max())
        # (B, 1, G) positions of global tokens, -1 padded; sorted so real ones come first
        order = torch.argsort((~gm).to(torch.int8), dim=1, stable=True)[:, :max(count, 1)]
        g_pos = torch.where(torch.gather(gm, 1, order), order, -1)[:, None, :]
        q_abs = torch.arange(n, device=gm.device)

        def is_g(b, pos):
            return gm[b, pos.clamp(min=0)] & (pos >= 0)

        def band(b, h, i, j):
            return self._causal(i, j, (i - j).abs() <= w) & ~is_g(b, i) & ~is_g(b, j)

        def columns(b, h, i, j):
            return self._causal(i, j, j >= 0) & ~is_g(b, i)

        def rows(b, h, i, j):
            return self._causal(i, j, i >= 0) & (i >= 0)
        lo, hi = band_ranges(q_abs.cpu(), 0, w, 0 if self.causal else w, n)
        comps = [Component(mask=band, ranges=(lo.to(gm.device), hi.to(gm.device)))]
        if count:
            g_n = g_pos.shape[-1]
            zero = torch.zeros(n, dtype=torch.int64, device=gm.device)
            comps.append(Component(mask=columns, k_pos=g_pos, ranges=(zero, zero + g_n - 1)))
            zero_g = torch.zeros(g_n, dtype=torch.int64, device=gm.device)
            comps.append(Component(mask=rows, q_pos=g_pos, ranges=(zero_g, zero_g + n - 1)))
        return comps


@register
@dataclass(frozen=True)
class BigBird(Pattern):
    """Blocks qb = i // block, kb = j // block: window |qb - kb| <= window_blocks // 2, global
    blocks (rows and columns), and ``random_blocks`` seeded random key blocks per query block drawn
    among those not already allowed (from earlier blocks only when causal)."""

    block: int = 64
    window_blocks: int = 3
    global_blocks: int = 2
    random_blocks: int = 3
    seed: int = 0
    name: ClassVar[str] = "bigbird"
    kind: ClassVar[str] = "hybrid"
    complexity: ClassVar[str] = "O(N)"

    def __post_init__(self):
        _positive("block", self.block, 1)
        _positive("window_blocks", self.window_blocks, 1)
        _positive("global_blocks", self.global_blocks, 0)
        _positive("random_blocks", self.random_blocks, 0)

    def block_table(self, n_blocks: int) -> Tensor:
        """Bool (n_blocks, n_blocks): which key block each query block may see."""
        return _bigbird_table(self.window_blocks, self.global_blocks, self.random_blocks, self.seed,
                              self.causal, n_blocks)

    def allowed(self, g, i, j, gq=None, gk=None):
        n_blocks = int(max(int(i.max()), int(j.max()))) // self.block + 1
        table = self.block_table(n_blocks).to(i.device)
        return self._causal(i, j, table[i // self.block, j // self.block])

    def mask_parts(self, n):
        table = self.block_table((n - 1) // self.block + 1)
        return (lambda g, i, j, t: self._causal(i, j, t[i // self.block, j // self.block])), (table,)

    def _components(self, n_q, n_k, n_heads, k_start):
        n_blocks = (k_start + n_k - 1) // self.block + 1
        table = self.block_table(n_blocks)
        q_abs = self._q_abs(n_q, n_k, k_start)
        n_g = self.global_blocks * self.block
        loc_q = q_abs[q_abs >= n_g]
        comps = []
        if len(loc_q):
            tab = table.clone()
            if self.causal:
                tab &= torch.ones_like(tab).tril()
            comps.append(Component(
                mask=lambda b, h, i, j, t: self._causal(i, j, t[i // self.block, j // self.block]), buffers=(tab,),
                q_pos=loc_q, table=tab[None], table_block=self.block,
                table_offset=(int(loc_q[0]), k_start)))
        glob_q = q_abs[q_abs < n_g]
        if len(glob_q):
            c = self._dense_component(n_q, n_k, k_start, mask=lambda b, h, i, j: self._causal(i, j, i >= 0),
                                      q_pos=glob_q)
            c.exact = True
            comps.append(c)
        return comps


@lru_cache(maxsize=64)
def _bigbird_table(window_blocks, global_blocks, random_blocks, seed, causal, n_blocks) -> Tensor:
    qb = torch.arange(n_blocks)[:, None]
    kb = torch.arange(n_blocks)[None, :]
    table = ((qb - kb).abs() <= window_blocks // 2) | (qb < global_blocks) | (kb < global_blocks)
    gen = torch.Generator().manual_seed(seed)
    for q in range(global_blocks, n_blocks):
        free = ~table[q]
        if causal:
            free &= torch.arange(n_blocks) < q
        cand = free.nonzero().flatten()
        if len(cand):
            pick = cand[torch.randperm(len(cand), generator=gen)[:random_blocks]]
            table[q, pick] = True
    return table


@register
@dataclass(frozen=True)
class Strided(Pattern):
    """Sparse Transformer strided: A1 = |d| < l (d < l causal), A2 = d % l == 0.

    heads="union" gives every head A1 ∪ A2; heads="split" gives A1 to the first half of the heads
    and A2 to the second half."""

    stride: int = 128
    heads: str = "union"
    name: ClassVar[str] = "strided"
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


@register
@dataclass(frozen=True)
class Learned(Pattern):
    """A per-head block layout (distilled from a dense teacher): layout[h, qb, kb]."""

    layout: Any = None  # bool (H or 1, nQB, nKB), stored as nested tuples so the pattern hashes
    block: int = 64
    name: ClassVar[str] = "learned"
    kind: ClassVar[str] = "hybrid"
    complexity: ClassVar[str] = "O(kN)"

    def __post_init__(self):
        _positive("block", self.block, 1)
        if self.layout is None:
            raise ValueError("layout must be a bool array of shape (H or 1, n_blocks, n_blocks)")
        t = torch.as_tensor(self.layout, dtype=torch.bool)
        if t.dim() == 2:
            t = t[None]
        if t.dim() != 3:
            raise ValueError(f"layout must have shape (H, n_blocks, n_blocks), got {tuple(t.shape)}")
        object.__setattr__(self, "layout", tuple(map(tuple, t.flatten(0, 1).tolist())))
        object.__setattr__(self, "_shape", tuple(t.shape))

    def table(self) -> Tensor:
        return torch.tensor(self.layout, dtype=torch.bool).view(self._shape)

    def head_groups(self):
        return self._shape[0]

    def validate(self, n_q, n_k, n_heads=None):
        super().validate(n_q, n_k, n_heads)
        if -(-n_k // self.block) > self._shape[2]:
            raise ValueError(f"sequence length must be <= {self._shape[2] * self.block} for this layout, got {n_k}")

    def allowed(self, g, i, j, gq=None, gk=None):
        t = self.table().to(i.device)
        return self._causal(i, j, t[g, i // self.block, j // self.block])

    def mask_parts(self, n):
        return (lambda g, i, j, t: self._causal(i, j, t[g, i // self.block, j // self.block])), (self.table(),)

    def _components(self, n_q, n_k, n_heads, k_start):
        t = self.table()
        g = self.head_group_index(n_heads)
        q_abs = self._q_abs(n_q, n_k, k_start)
        keys = torch.arange(k_start, k_start + n_k)
        tt = t[g]  # (H, nQB, nKB)
        if self.causal:
            tt = tt & torch.ones_like(tt[0]).tril()

        def mask(b, h, i, j, t):
            return self._causal(i, j, t[h, i // self.block, j // self.block])
        return [Component(mask=mask, buffers=(tt,), table=tt, table_block=self.block,
                          table_offset=(int(q_abs[0]), k_start))]


from .combinators import Intersection, PrefixLM, Union  # noqa: E402  (they subclass Pattern)
from .routing import Anchor, LSH  # noqa: E402

for _cls in (Union, Intersection, PrefixLM, LSH, Anchor):
    register(_cls)


def available() -> dict[str, dict[str, Any]]:
    """Pattern name -> {parameter: default}."""
    out = {}
    for name, cls in _REGISTRY.items():
        sig = inspect.signature(cls)
        out[name] = {k: (None if p.default is inspect.Parameter.empty else p.default)
                     for k, p in sig.parameters.items()}
    return out


def get_class(name: str) -> type[Pattern]:
    if name not in _REGISTRY:
        raise ValueError(f"unknown pattern {name!r}; known patterns: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def build(name: str, causal: bool = False, **params) -> Pattern:
    """Build a pattern by name: ``build("sliding_window", left=127, right=0, causal=True)``."""
    cls = get_class(name)
    allowed_keys = set(available()[name])
    bad = set(params) - allowed_keys
    if bad:
        raise ValueError(f"unknown parameter(s) {sorted(bad)} for pattern {name!r}; allowed: {sorted(allowed_keys)}")
    return cls(causal=causal, **params)
