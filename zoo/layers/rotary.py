"""Rotary position embedding (Su et al. 2021, "RoFormer: Enhanced Transformer with Rotary
Position Embedding"), applied inside the attention's fused q/k/v projection.

``SparseSelfAttention`` projects q, k, v with one ``qkv`` linear and then calls the core; to
rotate q and k without re-implementing its forward, ``RotaryLinear`` replaces that linear and
rotates the q and k slices of its output. The block sets ``offset`` (the cache length) before
each call, so decoding with a KV cache sees the same positions as a full pass.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


class RotaryEmbedding(nn.Module):
    """cos/sin tables for positions 0..max_len-1 on the first ``rot_dim`` features of a head."""

    def __init__(self, head_dim: int, max_len: int, base: float = 10000.0, rot_dim: int | None = None):
        super().__init__()
        rot_dim = head_dim if rot_dim is None else rot_dim
        if rot_dim % 2 or rot_dim > head_dim:
            raise ValueError(f"rot_dim must be even and <= head_dim={head_dim}, got {rot_dim}")
        self.rot_dim, self.max_len, self.base = rot_dim, max_len, base

    def cos_sin(self, n: int, offset: int, device, dtype) -> tuple[Tensor, Tensor]:
        if offset + n > self.max_len:
            raise ValueError(f"positions up to {offset + n} exceed max_len={self.max_len}")
        inv = 1.0 / self.base ** (torch.arange(0, self.rot_dim, 2, device=device, dtype=torch.float32) / self.rot_dim)
        t = torch.arange(offset, offset + n, device=device, dtype=torch.float32)
        freqs = torch.outer(t, inv)  # (n, rot_dim / 2)
        return freqs.cos().to(dtype), freqs.sin().to(dtype)


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate pairs (x[2i], x[2i+1]) of the first 2*cos.shape[-1] features. x (..., n, D)."""
    r = 2 * cos.shape[-1]
    whole = r == x.shape[-1]
    x_rot = x if whole else x[..., :r]
    x1, x2 = x_rot.unflatten(-1, (-1, 2)).unbind(-1)  # even / odd features; backward: one stack
    out = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).flatten(-2)
    return out if whole else torch.cat((out, x[..., r:]), dim=-1)


class RotaryLinear(nn.Linear):
    """The attention's qkv linear with rotary applied to its q and k slices.

    Output layout follows SparseSelfAttention: (B, N, S, H, D) with S = 3 (q, k, v) or S = 2 (q, v)
    for shared-QK attention, whose keys are derived from the rotated queries.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool, rotary: RotaryEmbedding,
                 num_heads: int, n_rotated: int):
        super().__init__(in_features, out_features, bias=bias)
        self.rotary, self.num_heads, self.n_rotated = rotary, num_heads, n_rotated
        self.offset = 0  # absolute position of x[:, 0]; set by the block before each call

    @classmethod
    def replace(cls, linear: nn.Linear, rotary: RotaryEmbedding, num_heads: int, n_rotated: int) -> "RotaryLinear":
        new = cls(linear.in_features, linear.out_features, linear.bias is not None, rotary, num_heads, n_rotated)
        new.load_state_dict(linear.state_dict())
        return new

    def forward(self, x: Tensor) -> Tensor:
        B, N, _ = x.shape
        y = super().forward(x).view(B, N, -1, self.num_heads, self.in_features // self.num_heads)  # (B, N, S, H, D)
        cos, sin = self.rotary.cos_sin(N, self.offset, x.device, y.dtype)
        cos, sin = cos[:, None, :], sin[:, None, :]  # (N, 1, rot/2) broadcast over heads
        # unbind/stack, not slices and cat: their backwards are one stack and free views, where
        # slices each zero a full-size gradient to copy into
        parts = y.unbind(2)
        rot = [apply_rotary(t, cos, sin) for t in parts[:self.n_rotated]]
        return torch.stack(rot + list(parts[self.n_rotated:]), dim=2).flatten(2)
