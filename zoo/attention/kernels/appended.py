"""Copies of a tensor's rows appended to it, whose backward adds the copies' gradients into the
originals' in place: no whole-size copy or add.

Fixed joined (joined.py) appends its summary keys to k and v, the global copies (global_copies.py)
their global rows and keys to q, k and v, so one FlexAttention call sees them. Inside one compiled
graph the backward made the whole-size gradient twice more (H200, fixed at 16k, session 28: 0.40 of
3.22 ms fwd+bwd in copies and adds beside 2.65 ms of attention kernels, attention_h200.json run 65);
here the gradient of x is a view of the first n rows of the appended tensor's gradient, into which
the copies' few rows are added. That gradient is written in place, so it must be ours alone: the
appended tensor feeds one FlexAttention call, whose backward returns fresh tensors (never pass a
gradient you keep, e.g. ``torch.autograd.grad(appended, x, dy)`` would change ``dy``).
"""
from __future__ import annotations

from functools import lru_cache

import torch
from torch import Tensor


def _with_copies(x: Tensor, index: Tensor | None, slot: int, repeats: int) -> Tensor:
    extra = x[:, :, :slot].repeat(1, 1, repeats, 1) if index is None else x.index_select(2, index)
    return torch.cat([x, extra], 2)


@lru_cache(maxsize=None)
def _compiled_with_copies():
    """One fused kernel for the gather and the cat (eager: two, +0.05 ms for fixed's k and v at 16k, H200)."""
    from .block_mask import raise_recompile_limits
    raise_recompile_limits()  # a graph per (shape, mode)
    return torch.compile(_with_copies, dynamic=False)


class _Appended(torch.autograd.Function):
    """x (B, H, n, D) -> [x; x[:, :, index]] (B, H, n + S, D). ``index`` (S,) distinct positions, or
    ``repeats`` > 0 copies of the first ``slot`` rows (summed, not scattered, so the bf16 sum is
    deterministic)."""

    @staticmethod
    def forward(ctx, x: Tensor, index: Tensor | None, slot: int, repeats: int) -> Tensor:
        ctx.n, ctx.slot, ctx.repeats = x.shape[2], slot, repeats
        ctx.save_for_backward(index)
        return (_compiled_with_copies() if x.is_cuda else _with_copies)(x, index, slot, repeats)

    @staticmethod
    def backward(ctx, g: Tensor):  # g (B, H, n + S, D): the appended tensor's gradient, ours alone
        index, = ctx.saved_tensors
        n = ctx.n
        g = g if g.is_contiguous() else g.contiguous()  # (an expanded gradient has no rows of its own)
        gx, extra = g[:, :, :n], g[:, :, n:]  # views
        if index is None:
            gx[:, :, :ctx.slot] += extra.unflatten(2, (ctx.repeats, ctx.slot)).sum(2)
        else:  # distinct rows: a gather, an add and a copy back, no atomics (index_add_ took 0.055 ms a tensor
            # for fixed's 1,024 copies at 16k, H200)
            gx.index_copy_(2, index, gx.index_select(2, index) + extra)
        return gx, None, None, None


def append_rows(x: Tensor, index: Tensor) -> Tensor:
    """x (B, H, n, D) with copies of its rows ``index`` (S,), distinct, appended: (B, H, n + S, D)."""
    return _Appended.apply(x, index, 0, 0)


def append_repeats(x: Tensor, slot: int, repeats: int) -> Tensor:
    """x (B, H, n, D) with its first ``slot`` rows appended ``repeats`` times: (B, H, n + repeats * slot, D)."""
    return x if not repeats else _Appended.apply(x, None, slot, repeats)
