"""The dense oracle: SDPA with the pattern's materialised token mask (tests, small N only)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..patterns import Pattern


def dense_mask(pattern: Pattern, n_q: int, n_k: int, n_heads: int, *, key_padding_mask: Tensor | None = None,
               global_mask: Tensor | None = None, k_start: int = 0, device=None) -> Tensor:
    """Bool (B|1, H|1, n_q, n_k): the allowed (query, key) pairs, padding and globals included."""
    i = torch.arange(k_start + n_k - n_q, k_start + n_k, device=device)
    j = torch.arange(k_start, k_start + n_k, device=device)
    g = pattern.head_group_index(n_heads, device)
    gq = gk = None
    if global_mask is not None:
        gm = torch.nn.functional.pad(global_mask.bool(), (k_start, 0))
        gq, gk = gm[:, None, i, None], gm[:, None, None, j]
    mask = pattern.allowed(g[None, :, None, None], i[None, None, :, None], j[None, None, None, :], gq, gk)
    if key_padding_mask is not None:
        mask = mask & key_padding_mask.bool()[:, None, None, :]
    return mask


def dense_attention(q: Tensor, k: Tensor, v: Tensor, pattern: Pattern, *, scale: float,
                    key_padding_mask: Tensor | None = None, global_mask: Tensor | None = None,
                    k_start: int = 0) -> Tensor:
    """softmax(q k^T * scale, masked) v; rows with no allowed key give zeros (never NaN)."""
    mask = dense_mask(pattern, q.shape[2], k.shape[2], q.shape[1], key_padding_mask=key_padding_mask,
                      global_mask=global_mask, k_start=k_start, device=q.device)
    row_any = mask.any(-1, keepdim=True)
    # open fully masked rows for SDPA (so no NaN flows in either direction), then zero them
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask | ~row_any, scale=scale)
    return torch.where(row_any, out, 0.0)
