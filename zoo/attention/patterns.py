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
import operator
from functools import lru_cache, reduce
from typing import Any, ClassVar

import torch
from torch import Tensor

from .layout import Component, band_ranges, residue_order

_REGISTRY: dict[str, type["Pattern"]] = {}
FUSED_MAX_DILATION = 2  # dilated windows up to this run as one block mask (DilatedWindow.fused_flex)


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
    # GPU: run as one FlexAttention BlockMask over the whole pattern (measured faster than our
    # pieces + log-sum-exp merge for every static family except Sparse Transformer's, whose
    # permuted pieces win at 16k+ tokens: benchmarks/attention_h200.md)
    fused_flex: ClassVar[bool] = True
    # may be one residue-class piece that runs as class heads (runs_fused looks at its components
    # only then: building them for every fused pattern cost BigBird with 4-token blocks 10 s at 64k)
    class_heads_capable: ClassVar[bool] = False

    # --- definition -------------------------------------------------------------------------
    def head_groups(self) -> int:
        """How many distinct head behaviours the pattern has; n_heads must be a multiple."""
        return 1

    def global_rows(self) -> int:
        """Leading query rows that attend every key (bidirectional global tokens): the GPU runs them
        by split-KV next to the pattern's BlockMask (kernels/global_rows.py)."""
        return 0

    def global_cols(self) -> int:
        """Leading key columns that every query sees (global tokens, also causal): the GPU gives them
        copies inside the pattern's BlockMask call when gradients are taken (kernels/global_copies.py)."""
        return 0

    def joins(self, n: int) -> bool:
        """Whether the GPU runs self-attention over n tokens as one FlexAttention call over the natural
        keys plus copies of the keys a piece gathers (``joined_parts``; kernels/joined.py): Sparse
        Transformer fixed's summary columns, where there is one."""
        return False

    def joined_parts(self, n: int) -> tuple:
        """(pos (S,), fn(g, i, j, copy, *bufs), bufs) where ``joins(n)``: the positions of the keys
        appended after the n natural ones, and the mask on absolute positions that counts every
        allowed pair once, on a natural key (copy False) or on an appended one (copy True)."""
        raise NotImplementedError(f"{self.name} does not run joined")

    def joined_position(self):
        """Where ``joins``: the appended keys' positions in closed form, copy index t (int tensor) -> pos[t],
        for the kernel's mask (which evaluates it per element of a partial tile, faster than reading pos);
        None to read pos."""
        return None

    def allowed(self, g: Tensor, i: Tensor, j: Tensor, gq: Tensor | None = None, gk: Tensor | None = None) -> Tensor:
        """Truth on absolute positions (broadcasting int64 tensors); g is the head group."""
        raise NotImplementedError(f"{self.name} is data-dependent: it has no static token mask")

    def _causal(self, i: Tensor, j: Tensor, ok: Tensor) -> Tensor:
        return ok & (j <= i) if self.causal else ok

    def mask_parts(self, n: int) -> tuple:
        """(fn(g, i, j, *bufs), bufs): ``allowed`` for positions < n in a form a compiled kernel
        can trace (tables passed as tensors, no Python-side reads of tensor values)."""
        return (lambda g, i, j: self.allowed(g, i, j)), ()

    def kernel_mask_parts(self, n: int) -> tuple:
        """``mask_parts`` as the attention kernel runs it. Window patterns override this to bake
        their sizes in as constants (the kernel then compiles per size): measured 11-22% faster
        than reading them from a tensor (benchmarks/attention_h200.md run 6, zoo_tensor_window rows).
        The BlockMask build keeps ``mask_parts``, so its compile is shared by every size."""
        return self.mask_parts(n)

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

    def head_group_index(self, n_heads: int | None, device: Any = None) -> Tensor:
        """Each head's group (made on ``device``: a host copy per call would wait for the GPU)."""
        groups = self.head_groups()
        if n_heads is None:
            return torch.arange(groups, device=device)
        return torch.arange(n_heads, device=device) * groups // n_heads

    def token_mask(self, n_q: int, n_k: int | None = None, n_heads: int | None = None,
                   k_start: int = 0, device: Any = None) -> Tensor:
        """Bool (H or 1, n_q, n_k): the pattern's definition, materialised (small N only)."""
        n_k = n_q if n_k is None else n_k
        self.validate(n_q, n_k, n_heads)
        i = torch.arange(k_start + n_k - n_q, k_start + n_k, device=device)[None, :, None]
        j = torch.arange(k_start, k_start + n_k, device=device)[None, None, :]
        g = self.head_group_index(n_heads, device)[:, None, None]
        if self.head_groups() == 1:
            g = g[:1]
        return self.allowed(g, i, j).expand(g.shape[0], n_q, n_k)

    def components(self, n_q: int, n_k: int, n_heads: int, k_start: int = 0) -> list[Component]:
        """Disjoint block-friendly pieces whose union is the pattern (cached per shape)."""
        self.validate(n_q, n_k, n_heads)
        return _components_cached(self, n_q, n_k, n_heads, k_start)

    def _components(self, n_q: int, n_k: int, n_heads: int, k_start: int) -> list[Component]:
        raise NotImplementedError(f"{type(self).__name__} is abstract here: each static family defines its pieces")

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


def runs_fused(pattern: Pattern | type[Pattern], shape: tuple[int, int, int, int] | None = None) -> bool:
    """Whether the GPU runs this pattern as one BlockMask (the dispatcher's fused path): static
    and marked ``fused_flex``. Takes a class too where ``fused_flex`` is a class constant.

    Given ``shape`` (n_q, n_k, n_heads, k_start), also not where the pattern is one residue-class
    component that runs as class heads at that shape (kernels/classes.py, dilated r = 2): those
    compute the allowed band only, the fused BlockMask every tile the dilated span touches."""
    if not pattern.fused_flex or pattern.data_dependent:
        return False
    if shape is None or not pattern.class_heads_capable:
        return True
    from .kernels.classes import runs_as_classes
    return not runs_as_classes(pattern, *shape)


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
    return Component(mask=mask, heads=heads, q_pos=q_order, k_pos=k_order, ranges=(lo, hi), exact=exact,
                     per_class=r)


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

    def mask_parts(self, n):
        # the window as a tensor: one compiled BlockMask build serves every window size (models
        # vary it by layer)
        causal = self.causal

        def fn(g, i, j, lr):
            ok = (i - j <= lr[0]) & (j - i <= lr[1])
            return ok & (j <= i) if causal else ok
        return fn, (torch.tensor([self.left, self.right]),)

    def kernel_mask_parts(self, n):
        return Pattern.mask_parts(self, n)  # sizes as constants

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
    class_heads_capable: ClassVar[bool] = True
    kind: ClassVar[str] = "local"
    complexity: ClassVar[str] = "O(wN)"

    def __post_init__(self):
        _positive("left", self.left, 0)
        _positive("right", self.right, 0)
        if isinstance(self.dilation, list):
            object.__setattr__(self, "dilation", tuple(self.dilation))
        for r in self._dilations():
            _positive("dilation", r, 1)

    @property
    def fused_flex(self) -> bool:
        """One block mask computes every tile the dilated span touches, r times the allowed pairs
        (dilation 192 in the pixel models: nearly dense). Residue-class pieces gathered by a copy
        lost to it at r = 2 on the H200 (7.4 vs 5.5 ms, benchmarks/attention_h200.md run 6), so
        small dilations fuse, except at lengths where a single dilation runs as class heads
        without a copy (kernels/classes.py; patterns.runs_fused): 3.00 vs 5.32 ms at r = 2, 16k
        (run 17)."""
        return max(self._dilations()) <= FUSED_MAX_DILATION

    def _dilations(self) -> tuple[int, ...]:
        return self.dilation if isinstance(self.dilation, tuple) else (self.dilation,)

    def head_groups(self):
        return len(self._dilations())

    def _within(self, i, j, r):
        """The rule for dilation r (an int, or a per-head tensor): every mask form calls this."""
        d = i - j
        return self._causal(i, j, (d % r == 0) & (d <= self.left * r) & (-d <= self.right * r))

    def allowed(self, g, i, j, gq=None, gk=None):
        return self._within(i, j, torch.tensor(self._dilations(), device=i.device)[g])

    def lookback(self):
        return self.left * max(self._dilations())

    def mask_parts(self, n):
        return (lambda g, i, j, r: self._within(i, j, r[g])), (torch.tensor(self._dilations()),)

    def kernel_mask_parts(self, n):
        """Dilations as constants (see Pattern.kernel_mask_parts). A per-head list read from a
        table makes the kernel take d % r by a loaded int64 for every score; here each distinct
        dilation is its own constant rule, picked by comparing the head's group with constants.
        Why: in the H200 profile of lm_base_longformer (benchmarks/train_h200.json, session 11)
        its two per-head dilated layers took 15 ms of flex forward per step, its ten sliding
        layers about 3 ms; with 12 heads at 1 and 4 at 2 this form takes 3.78 ms fwd+bwd at 16k
        against 24.57 ms for the table (benchmarks/attention_h200.md, run 21)."""
        dil = self._dilations()
        distinct = sorted(set(dil))
        groups = {r: tuple(k for k, x in enumerate(dil) if x == r) for r in distinct[1:]}  # the rest: distinct[0]

        def fn(g, i, j):
            ok = self._within(i, j, distinct[0])
            for r in distinct[1:]:
                mine = reduce(operator.or_, (g == k for k in groups[r]))
                ok = torch.where(mine, self._within(i, j, r), ok)
            return ok
        return fn, ()

    def _components(self, n_q, n_k, n_heads, k_start):
        groups = self.head_groups()
        out = []
        for r in sorted(set(self._dilations())):
            heads = tuple(h for h in range(n_heads) if self._dilations()[h * groups // n_heads] == r)
            if len(heads) == n_heads:
                heads = None

            def mask(b, h, i, j, r=r):
                return self._within(i, j, r)
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

    def global_rows(self) -> int:
        return 0 if self.causal else self.global_tokens

    def global_cols(self) -> int:
        return self.global_tokens

    def allowed(self, g, i, j, gq=None, gk=None):
        gq = i < self.global_tokens if gq is None else gq
        gk = j < self.global_tokens if gk is None else gk
        return self._causal(i, j, ((i - j).abs() <= self.window // 2) | gq | gk)

    def mask_parts(self, n):
        causal = self.causal  # window and global count as a tensor: one compiled build for all sizes

        def fn(g, i, j, wg):
            ok = ((i - j).abs() <= wg[0]) | (i < wg[1]) | (j < wg[1])
            return ok & (j <= i) if causal else ok
        return fn, (torch.tensor([self.window // 2, self.global_tokens]),)

    def kernel_mask_parts(self, n):
        return Pattern.mask_parts(self, n)  # sizes as constants

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


from .block_patterns import BigBird, Learned  # noqa: E402,F401  (families in their own files register on import)
from .sparse_transformer import Fixed, Strided  # noqa: E402,F401
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
