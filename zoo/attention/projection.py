"""The attention's q/k/v projection: one fused weight (3C, C) (2C for shared-QK attention), the
checkpoint layout, applied as one matmul per part so each of q, k, v comes out as its own dense
(B, N, H, D) tensor.

From one (B, N, 3C) output q, k and v are interleaved views (rows 3C apart), and that layout costs
copies downstream (H200 profiles, benchmarks/train_h200.json session 12): autograd stacks the three
gradients back into (B, N, 3, H, D), and residue classes as heads cannot view B and H as one axis
(kernels/classes.py). Dense parts need neither: their class view (B, r*H, n/r, D) is free and their
gradients go straight into the three matmuls' backward (session 13: copies 15.7 -> 10.5 ms of the
pixel step). The copies of gradients crossing a compiled block's graph break stay (_DenseGrad in
attention.py).
"""
from __future__ import annotations

import os

import torch.nn.functional as F
from torch import Tensor, nn


class QKVProjection(nn.Linear):
    """``nn.Linear(dim, parts * dim)`` whose ``split_heads`` returns the parts separately.

    ``ZOO_FUSED_QKV=1`` at construction goes back to one matmul and views of its output (A/B)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fused = os.environ.get("ZOO_FUSED_QKV") == "1"

    def split_heads(self, x: Tensor, num_heads: int) -> list[Tensor]:
        """x (B, N, C) -> [(B, N, H, D)] * parts, each dense (one matmul per part)."""
        B, N, C = x.shape
        parts = self.out_features // C
        if self.fused:  # interleaved views of one (B, N, parts*C) output; unbind's backward is one stack
            return list(super().forward(x).view(B, N, parts, num_heads, C // num_heads).unbind(2))
        ws = self.weight.unflatten(0, (parts, C)).unbind(0)  # (C, C) row blocks; backward: one stack
        bs = (None,) * parts if self.bias is None else self.bias.unflatten(0, (parts, C)).unbind(0)
        return [F.linear(x, w, b).view(B, N, num_heads, C // num_heads) for w, b in zip(ws, bs)]
