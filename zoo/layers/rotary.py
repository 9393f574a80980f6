"""Rotary position embedding (Su et al. 2021, "RoFormer: Enhanced Transformer with Rotary
Position Embedding"), applied inside the attention's fused q/k/v projection.

``SparseSelfAttention`` projects q, k, v with its ``qkv`` projection (``split_heads``) and then
calls the core; to rotate q and k without re-implementing its forward, ``RotaryLinear`` replaces
that projection and rotates the q and k parts. The block sets ``offset`` (the cache length) before
each call, so decoding with a KV cache sees the same positions as a full pass.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..attention.projection import QKVProjection


class RotaryEmbedding(nn.Module):
    """cos/sin tables for positions 0..max_len-1 on the first ``rot_dim`` features of a head.

    The tables are buffers computed once (not saved in checkpoints): computed per call, a compiled
    block fused arange/pow/cos/sin into every element of its rotary kernels, forward and backward
    (H200 profile of lm_base_longformer at 16k x 4: ~7.6 ms of an 86 ms step,
    benchmarks/train_h200.json session 12), where reading a table is a plain elementwise pass."""

    def __init__(self, head_dim: int, max_len: int, base: float = 10000.0, rot_dim: int | None = None):
        super().__init__()
        rot_dim = head_dim if rot_dim is None else rot_dim
        if rot_dim % 2 or rot_dim > head_dim:
            raise ValueError(f"rot_dim must be even and <= head_dim={head_dim}, got {rot_dim}")
        if max_len < 1:
            raise ValueError(f"max_len must be >= 1, got {max_len}")
        self.max_len = max_len
        inv = 1.0 / base ** (torch.arange(0, rot_dim, 2, dtype=torch.float32) / rot_dim)
        freqs = torch.outer(torch.arange(max_len, dtype=torch.float32), inv)  # (max_len, rot_dim / 2)
        self.register_buffer("cos", freqs.cos(), persistent=False)
        self.register_buffer("sin", freqs.sin(), persistent=False)

    def cos_sin(self, n: int, offset: int, device, dtype) -> tuple[Tensor, Tensor]:
        """Rows offset .. offset + n - 1 of the tables, (n, rot_dim / 2) each."""
        if offset + n > self.max_len:
            raise ValueError(f"positions up to {offset + n} exceed max_len={self.max_len}")
        return (self.cos[offset:offset + n].to(device=device, dtype=dtype),
                self.sin[offset:offset + n].to(device=device, dtype=dtype))


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate pairs (x[2i], x[2i+1]) of the first 2*cos.shape[-1] features. x (..., n, D)."""
    r = 2 * cos.shape[-1]
    whole = r == x.shape[-1]
    x_rot = x if whole else x[..., :r]
    x1, x2 = x_rot.unflatten(-1, (-1, 2)).unbind(-1)  # even / odd features; backward: one stack
    out = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).flatten(-2)
    return out if whole else torch.cat((out, x[..., r:]), dim=-1)


class RotaryLinear(QKVProjection):
    """The attention's qkv projection with rotary applied to its q and k parts.

    Parts follow SparseSelfAttention: S = 3 (q, k, v) or S = 2 (q, v) for shared-QK attention,
    whose keys are derived from the rotated queries.
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

    def split_heads(self, x: Tensor, num_heads: int) -> list[Tensor]:
        """[(B, N, H, D)] * S, the first ``n_rotated`` rotated (each stays dense)."""
        parts = super().split_heads(x, num_heads)
        cos, sin = self.rotary.cos_sin(x.shape[1], self.offset, x.device, parts[0].dtype)
        cos, sin = cos[:, None, :], sin[:, None, :]  # (N, 1, rot/2) broadcast over heads
        return [apply_rotary(t, cos, sin) for t in parts[:self.n_rotated]] + parts[self.n_rotated:]

    def forward(self, x: Tensor) -> Tensor:
        """The fused (B, N, S*C) output with q and k rotated (the plain Linear call; the attention
        uses ``split_heads``)."""
        return torch.stack(self.split_heads(x, self.num_heads), dim=2).flatten(2)
