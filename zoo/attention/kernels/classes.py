"""Residue classes as heads: a component whose queries and keys are the residue order mod r of one
whole axis, with every allowed pair inside one class (Sparse Transformer's strided column, dilated
windows with r > 2), is r independent attentions of n/r tokens each.

Row t of class c is position t*r + c. Two views hand the classes to FlexAttention as heads, and
its output, laid out in the query's stride order, comes back in natural order through the same
view: "batch" (B*H, r, n/r, D), free for a contiguous (B, H, n, D) (the attention benchmarks), and
"heads" (B, r*H, n/r, D), head c*H + h, free for a dense (B, N, H, D) layout transposed (what the
model's projection gives, projection.py). Inputs that fit neither are copied into the first
(session 11's H200 profile: 3.4 ms of a 130 ms pixel_base_strided step forward, as much
backward, when q, k, v were views of one fused projection). The residue-order gather this
replaces is a transpose copy both ways (kernels/gather.py), 1.49 of strided's 6.05 ms fwd+bwd at
16k on the H200 (session 8's profile).
``ZOO_NO_CLASS_HEADS=1`` (read per call) goes back to the gather, for A/B timing, as does
``ZOO_EAGER_PLUMBING=1`` (no residue stride is detected then).
"""
from __future__ import annotations

import os

import torch
from torch import Tensor

from ..layout import Component
from .gather import _memo, _stride_of, head_of


def class_split(comp: Component, n_q: int, n_k: int, k_start: int) -> int:
    """r when ``comp`` can run as r class heads on these lengths, else 0."""
    r = comp.per_class
    if not r or comp.diag_bias or k_start or n_q != n_k or n_q % r:
        return 0
    if os.environ.get("ZOO_NO_CLASS_HEADS") == "1":
        return 0
    ok = _stride_of(comp, comp.q_pos, "q", 0, n_q) == r and _stride_of(comp, comp.k_pos, "k", 0, n_k) == r
    return r if ok else 0


def runs_as_classes(pattern, n_q: int, n_k: int, n_heads: int, k_start: int = 0) -> bool:
    """Whether a static pattern is a single per-class component that runs as class heads at this
    shape (the dispatcher then skips the pattern's fused BlockMask: patterns.runs_fused)."""
    if pattern.data_dependent:
        return False
    comps = pattern.components(n_q, n_k, n_heads, k_start)  # cached per shape
    return len(comps) == 1 and comps[0].heads is None and class_split(comps[0], n_q, n_k, k_start) > 0


def local_component(comp: Component, n: int, r: int) -> Component:
    """The component's candidate ranges in class coordinates (cached): (n/r,) shared by every class
    when the classes agree (the usual case, which keeps the full-block list), else (r, n/r)."""
    def make():
        m = n // r
        seg0 = (torch.arange(r, device=comp.ranges[0].device) * m)[:, None]  # (r, 1) each class's start
        lo, hi = (t.view(r, m) - seg0 for t in comp.ranges)  # (r, m); lo > hi still means none
        if torch.equal(lo, lo[:1].expand_as(lo)) and torch.equal(hi, hi[:1].expand_as(hi)):
            lo, hi = lo[0], hi[0]
        return Component(mask=comp.mask, ranges=(lo, hi), exact=comp.exact)
    return _memo(comp, ("class-local", n, r), comp.ranges[0], make)


def class_layout(r: int, *xs: Tensor) -> str:
    """The view every one of xs (B, H, n, D) takes without a copy: "batch" when B and H merge,
    else "heads" when r and H do (a dense (B, N, H, D) layout); "batch" (copying) when neither."""
    def merges(x, outer, inner):  # dims outer, inner of (B, H, n, D) fold into one axis, outer first
        return x.shape[outer] == 1 or x.shape[inner] == 1 or x.stride(outer) == x.shape[inner] * x.stride(inner)
    if all(merges(x, 0, 1) for x in xs):
        return "batch"
    return "heads" if all(merges(x, 2, 1) for x in xs) else "batch"


def to_classes(x: Tensor, r: int, layout: str = "batch") -> Tensor:
    """x (B, H, n, D) -> class c's row t = position t*r + c, as (B*H, r, n/r, D) ("batch") or
    (B, r*H, n/r, D) with head c*H + h ("heads"); a view where ``class_layout`` chose it."""
    xc = x.unflatten(2, (x.shape[2] // r, r))  # (B, H, n/r, r, D)
    if layout == "batch":
        return xc.transpose(2, 3).flatten(0, 1)
    return xc.permute(0, 3, 1, 2, 4).flatten(1, 2)


def from_classes(x: Tensor, batch: int, layout: str = "batch", r: int = 0) -> Tensor:
    """The inverse of ``to_classes`` for an output (..., D) or a log-sum-exp (without D): ->
    (B, H, n[, D]) in natural order, a view when x is laid out like the to_classes view."""
    if layout == "batch":  # (B*H, r, n/r[, D])
        return x.transpose(1, 2).flatten(1, 2).unflatten(0, (batch, -1))
    xc = x.unflatten(1, (r, -1))  # (B, r, H, n/r[, D])
    return xc.permute(0, 2, 3, 1, *range(4, xc.dim())).flatten(2, 3)


def class_mask_mod(comp: Component, r: int, heads: Tensor, key_padding_mask: Tensor | None, layout: str = "batch"):
    """The component's mask_mod on the class view: "batch": batch b*Hc + h, head = class c;
    "heads": batch b, head c*Hc + h; rows t."""
    bufs, mask_fn, kpm, hc = comp.buffers_on(heads.device), comp.mask, key_padding_mask, heads.shape[0]
    head = head_of(comp, heads)

    def mask_mod(bh, ch, tq, tk):
        if layout == "batch":
            b, h, c = bh // hc, head(bh % hc), ch
        else:
            b, h, c = bh, head(ch % hc), ch // hc
        qa, ka = tq * r + c, tk * r + c
        ok = mask_fn(b, h, qa, ka, *bufs)
        return ok if kpm is None else ok & kpm[b, ka]
    return mask_mod
