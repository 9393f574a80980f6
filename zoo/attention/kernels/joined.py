"""A pattern whose pieces all keep the natural query order, as one FlexAttention call: the keys a
piece gathers (Sparse Transformer fixed's summary columns) appended to k and v as copies.

Fixed's summary columns (the last c of every l keys) are what a query sees of the other blocks. On
natural keys they sit in every key block, so one BlockMask walks every earlier block partially (the
plain mask_mod: 14 useful TFLOP/s at 64k, H200). Gathered apart (the components path) they run as a
second call beside the same-block piece, whose programs walk one or two tiles each, and the two merge
by log-sum-exp: 5.27 ms fwd+bwd at 16k, 10.05 at 64k (102 / 197 useful TFLOP/s, attention_h200.json
run 55). Here k' = [k; k[pos]]: a query block walks its own block's natural tiles and the gathered
summaries in one program, with no second call and no merge; the copies' gradients add into dk, dv in
place (appended.py).

A pattern opts in with ``joins(n)`` and ``joined_parts(n) -> (pos (S,), fn, bufs)``: the appended
keys' positions and its mask fn(g, i, j, copy, *bufs) on absolute positions, ``copy`` telling an
appended key from a natural one, so that every allowed pair is counted once. Self-attention without a
cache (decoding keeps the components), from MIN_TOKENS on, the shortest length measured: at 16k and 64k fixed
3.34 / 7.87 ms fwd+bwd, 161 / 252 useful TFLOP/s (session 25; 2.66 / 7.36 ms, 202 / 269 with session 28's
appends and closed-form positions, runs 68-70); split heads 5.96 -> 2.41 and 8.37 -> 4.95 ms (run 56), its
bf16 outputs and gradients within 6.4e-3 of the components'; from 1,024 to 12,288 tokens (B x N = 65,536)
2.1-2.8 ms against 3.7-4.7 ms for the components (runs 59-60, ImageNet-64's 12,288: 4.62 -> 2.80 ms, CIFAR's
3,072: 4.71 -> 2.40). Its GPU test checks it in fp32 (128-token blocks) against the fp64 reference at 3,001
tokens, and the correctness matrix on both dtypes (tools/gpu_correctness.py --joined-from 0).
``ZOO_JOINED_KEYS=0`` (read per call) keeps the components.
"""
from __future__ import annotations

import functools
import os

import torch
from torch import Tensor

from .appended import append_rows
from .block_mask import compiled_flex, flex_lse, head_group

MIN_TOKENS = 1024  # the shortest length measured (below it the components stay, unmeasured)


def applies(pattern, n_q: int, n_k: int, k_start: int) -> bool:
    """Whether the dispatcher runs ``pattern`` joined on this self-attention shape."""
    return (not pattern.data_dependent and n_q == n_k and not k_start and n_k >= MIN_TOKENS
            and os.environ.get("ZOO_JOINED_KEYS") != "0" and pattern.joins(n_k))


def mask_mod(fn, bufs: tuple, pos: Tensor, n: int, groups: int, n_heads: int, kpm: Tensor | None = None,
             position=None):
    """The BlockMask's mask_mod on (q, k') indices: key ki >= n is the copy of position pos[ki - n]
    (``position(ki - n)`` where the pattern gives that closed form); ``kpm`` (B, n) the key padding mask."""
    last = max(pos.numel() - 1, 0)

    def mod(b, h, qi, ki):
        copy = ki >= n
        j = torch.where(copy, position(ki - n) if position else pos[(ki - n).clamp(0, last)], ki)  # absolute
        ok = fn(head_group(h, groups, n_heads), qi, j, copy, *bufs)
        return ok if kpm is None else ok & kpm[b, j]
    return mod


def attention(q: Tensor, k: Tensor, v: Tensor, pos: Tensor, block_mask, scale: float,
              kernel_options: dict | None, flex=None) -> tuple[Tensor, Tensor]:
    """q, k, v (B, H, n, D) -> (out (B, H, n, D), lse (B, H, n)): ``flex`` (FlexAttention by
    default) on (q, k', v') with the joined ``block_mask`` (n x n + S), pos (S,) the copied keys."""
    from torch.nn.attention.flex_attention import flex_attention
    kw = {"kernel_options": kernel_options} if kernel_options else {}
    kx, vx = append_rows(k, pos), append_rows(v, pos)  # (B, H, n + S, D)
    return flex_lse(flex or flex_attention, q, kx, vx, block_mask=block_mask, scale=scale, **kw)


def compiled_attention():
    """``attention`` on compiled FlexAttention; the appends stay outside the graph, whose functional
    backward would copy the whole gradient to add the copies' rows (appended.py)."""
    return functools.partial(attention, flex=compiled_flex())
