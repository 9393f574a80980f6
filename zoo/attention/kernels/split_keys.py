"""Rows that see every key, split over key chunks (flash-decoding's split-K).

Longformer's 32 global rows attend all n keys. Inside the fused BlockMask their query tile walks
every key block serially while the rest of the grid idles; as one pass of their own they are
B*H programs each walking n/128 tiles (H200, 64k tokens: 7.9 ms forward, 16 programs). Cut into
S chunks of n/S keys, the S chunks run as extra heads (or batch rows) of one FlexAttention call
and merge by log-sum-exp. The key chunks are views of k and v where their layout allows: heads
join chunks when a head's keys are contiguous ((B, H, n, D)), the batch does when a sequence's
are ((B, n, H, D) or packed qkv). ``MIN_CHUNK`` keys per chunk keep each program 8 tiles long.
"""
from __future__ import annotations

import copy
from functools import lru_cache

import torch
from torch import Tensor

from .block_mask import from_kv_blocks

MIN_CHUNK = 1024  # keys per chunk; fewer than two chunks: no split (the fused mask keeps the rows)
_NEG = -1e30  # finite stand-in for an empty chunk's -inf lse, so its weight and gradients stay 0


def key_splits(n_k: int) -> int:
    """S: a power of two dividing n_k with chunks of at least MIN_CHUNK keys (1: none)."""
    s = 1
    while n_k % (2 * s) == 0 and n_k // (2 * s) >= MIN_CHUNK:
        s *= 2
    return s


def split(q_rows: Tensor, k: Tensor, v: Tensor, s: int) -> tuple[Tensor, Tensor, Tensor, bool]:
    """q_rows (B, H, R, D), k/v (B, H, n, D) -> chunked (q, k, v) and whether chunks joined the
    heads ((B, H*S, ., D)) or else the batch ((B*S, H, ., D))."""
    B, H, R, D = q_rows.shape
    n = k.shape[2]
    m = n // s
    by_heads = all(x.stride(1) == n * x.stride(2) for x in (k, v))
    if by_heads:
        kc, vc = (x.unflatten(2, (s, m)).flatten(1, 2) for x in (k, v))  # (B, H*S, m, D) views
        qc = q_rows[:, :, None].expand(B, H, s, R, D).flatten(1, 2)  # (B, H*S, R, D), a small copy
    else:  # views when a sequence's keys are contiguous, else flatten copies
        kc, vc = (x.unflatten(2, (s, m)).transpose(1, 2).flatten(0, 1) for x in (k, v))  # (B*S, H, m, D)
        qc = q_rows[:, None].expand(B, s, H, R, D).flatten(0, 1)  # (B*S, H, R, D)
    return qc, kc, vc, by_heads


@lru_cache(maxsize=64)
def _every_tile(n_q: int, n_k: int, block: int, device: str, full: bool):
    """A BlockMask (B = H = 1, broadcast) listing every key tile for every query tile; ``full``
    skips the mask_mod, else it decides every pair."""
    from torch.nn.attention.flex_attention import noop_mask
    nqb, nkb = -(-n_q // block), -(-n_k // block)
    idx = torch.arange(nkb, dtype=torch.int32, device=device).expand(1, 1, nqb, nkb).contiguous()
    num = torch.full((1, 1, nqb), nkb, dtype=torch.int32, device=device)
    none = torch.zeros_like(num)
    if full:
        return from_kv_blocks(none, idx, num, idx, (block, block), noop_mask, (n_q, n_k))
    return from_kv_blocks(num, idx, None, None, (block, block), noop_mask, (n_q, n_k))


def block_mask(n_q: int, m: int, s: int, by_heads: bool, kpm: Tensor | None, block: int, device):
    """The chunked call's BlockMask: every tile, padding (kpm (B, n), True = real) read through
    each program's chunk."""
    bm = _every_tile(n_q, m, block, str(device), kpm is None)
    if kpm is None:
        return bm
    bm = copy.copy(bm)

    def mask_mod(b, h, qi, ki):
        seq, chunk = (b, h % s) if by_heads else (b // s, b % s)
        return kpm[seq, chunk * m + ki]
    bm.mask_mod = mask_mod
    return bm


def merge(out: Tensor, lse: Tensor, batch: int, s: int, by_heads: bool) -> tuple[Tensor, Tensor]:
    """The chunked call's (out, lse) -> (B, H, R, D), (B, H, R): log-sum-exp over the chunks;
    rows with no key in any chunk give zeros and -inf."""
    if by_heads:
        out, lse = out.unflatten(1, (-1, s)), lse.unflatten(1, (-1, s))  # (B, H, S, R[, D])
    else:
        out, lse = out.unflatten(0, (batch, s)).transpose(1, 2), lse.unflatten(0, (batch, s)).transpose(1, 2)
    lse = lse.float()
    finite = torch.isfinite(lse)
    safe = torch.where(finite, lse, _NEG)
    total = torch.logsumexp(safe, dim=2)  # (B, H, R)
    w = torch.where(finite, torch.exp(safe - total[:, :, None]), 0.0)  # (B, H, S, R)
    merged = (w[..., None] * out.float()).sum(2)  # (B, H, R, D)
    return merged, torch.where(finite.any(2), total, float("-inf"))
