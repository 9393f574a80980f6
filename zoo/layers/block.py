"""The pre-norm Transformer block over the shared sparse-attention core (GPT-2 / Radford et al.
2019 ordering: x + attn(norm(x)), then x + mlp(norm(x))).

The two residual branches are separate methods so the reversible stack (reversible.py) can use
them as its F and G functions.
"""
from __future__ import annotations

from torch import Tensor, nn

from ..attention import KVCache, SparseSelfAttention
from ..attention.attention import GraphMask
from ..attention.patterns import Pattern
from .mlp import Mlp
from .rotary import RotaryEmbedding, RotaryLinear


class Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, pattern: Pattern, *, mlp_ratio: float = 4.0,
                 qkv_bias: bool = True, drop: float = 0.0, norm_layer: type[nn.Module] = nn.LayerNorm,
                 mlp_layer: type[nn.Module] = Mlp, backend: str = "auto", rotary: RotaryEmbedding | None = None,
                 max_len: int | None = None, shared_qk: bool | None = None):
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.attn = SparseSelfAttention(dim, num_heads, pattern, qkv_bias=qkv_bias, proj_drop=drop,
                                        backend=backend, max_len=max_len, shared_qk=shared_qk)
        self.rotary = rotary is not None
        if self.rotary:  # q and k are rotated; with shared QK the keys come from the rotated queries
            self.attn.qkv = RotaryLinear.replace(self.attn.qkv, rotary, num_heads,
                                                 n_rotated=1 if self.attn.shared_qk else 2)
        self.norm2 = norm_layer(dim)
        self.mlp = mlp_layer(in_features=dim, hidden_features=int(dim * mlp_ratio), drop=drop)

    @property
    def pattern(self) -> Pattern:
        return self.attn.pattern

    def attn_branch(self, x: Tensor, key_padding_mask: Tensor | None = None, global_mask: Tensor | None = None,
                    cache: KVCache | None = None, graph_mask: GraphMask = None) -> Tensor:
        if self.rotary:
            self.attn.qkv.offset = cache.length if cache is not None else 0
        if not self.attn.pattern.accepts_global_mask:
            global_mask = None  # only Longformer-style patterns take per-example globals
        return self.attn(self.norm1(x), key_padding_mask=key_padding_mask, global_mask=global_mask, cache=cache,
                         graph_mask=graph_mask)

    def mlp_branch(self, x: Tensor) -> Tensor:
        return self.mlp(self.norm2(x))

    def forward(self, x: Tensor, key_padding_mask: Tensor | None = None, global_mask: Tensor | None = None,
                cache: KVCache | None = None, graph_mask: GraphMask = None) -> Tensor:  # x (B, N, C)
        x = x + self.attn_branch(x, key_padding_mask, global_mask, cache, graph_mask)
        return x + self.mlp_branch(x)
