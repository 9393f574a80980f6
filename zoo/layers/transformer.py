"""The block stack every family shares: embeddings in, normalised features out.

Options from the configuration: per-layer patterns (schedule.py), activation checkpointing
(Chen et al. 2016, "Training Deep Nets with Sublinear Memory Cost") and reversible residuals
(reversible.py), and ``compile``: each block's norms, projections, MLP and residual adds fused by
torch.compile for training, with the attention core left out of the graph (it compiles its own
kernels and caches per pattern and shape), except dense, fused static and single residue-class
attention, which run inside each block's graph (``SparseSelfAttention.graph_mask``; H200, session
14: 5.6-6.0% off a training step; ``ZOO_GRAPH_ATTENTION=0`` for A/B). Decoding passes one KV cache per
layer.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from ..attention import KVCache
from ..attention.kernels.block_mask import raise_recompile_limits
from ..attention.patterns import Pattern
from .block import Block
from .mlp import get_mlp_layer
from .norm import get_norm_layer
from .reversible import reversible_forward
from .rotary import RotaryEmbedding


@dataclass
class TransformerConfig:
    """Fields every family shares. ``pattern`` / ``pattern_params`` name a core pattern
    (``zoo patterns``); ``schedule`` / ``schedule_params`` vary it per layer (schedule.py)."""

    dim: int = 256
    depth: int = 6
    num_heads: int = 8
    mlp_ratio: float = 4.0
    mlp: str = "gelu"
    norm: str = "layernorm"
    qkv_bias: bool = True
    dropout: float = 0.0
    pattern: str = "dense"
    pattern_params: dict[str, Any] = field(default_factory=dict)
    schedule: str = "same"
    schedule_params: dict[str, Any] = field(default_factory=dict)
    reversible: bool = False
    grad_checkpointing: bool = False
    attn_backend: str = "auto"
    shared_qk: bool | None = None  # Reformer's shared query/key projection; None: in lsh layers only
    compile: bool = False  # torch.compile each block for training: norms, projections, MLP, residuals


class Transformer(nn.Module):
    def __init__(self, cfg: TransformerConfig, patterns: list[Pattern], *, max_len: int,
                 rotary: RotaryEmbedding | None = None):
        super().__init__()
        if len(patterns) != cfg.depth:
            raise ValueError(f"need one pattern per layer ({cfg.depth}), got {len(patterns)}")
        norm_layer, mlp_layer = get_norm_layer(cfg.norm), get_mlp_layer(cfg.mlp)
        self.blocks = nn.ModuleList(
            Block(cfg.dim, cfg.num_heads, p, mlp_ratio=cfg.mlp_ratio, qkv_bias=cfg.qkv_bias, drop=cfg.dropout,
                  norm_layer=norm_layer, mlp_layer=mlp_layer, backend=cfg.attn_backend, rotary=rotary,
                  max_len=max_len, shared_qk=cfg.shared_qk)
            for p in patterns)
        self.norm = norm_layer(cfg.dim)
        self.reversible = cfg.reversible
        self.grad_checkpointing = cfg.grad_checkpointing
        # attention inside each compiled block's graph (graph_mask); ZOO_GRAPH_ATTENTION=0 for A/B timing
        self.graph_attention = cfg.compile and os.environ.get("ZOO_GRAPH_ATTENTION") != "0"
        if cfg.compile:  # one graph per block (a pattern or shape of its own recompiles)
            if cfg.reversible:
                raise ValueError("compile=True does not apply to reversible=True stacks; leave one off")
            raise_recompile_limits()
            for blk in self.blocks:
                blk.compile(dynamic=False)

    @property
    def patterns(self) -> list[Pattern]:
        return [b.pattern for b in self.blocks]

    def new_caches(self) -> list[KVCache]:
        return [b.attn.new_cache() for b in self.blocks]

    def forward(self, x: Tensor, key_padding_mask: Tensor | None = None, global_mask: Tensor | None = None,
                caches: list[KVCache] | None = None) -> Tensor:  # x (B, N, C) -> (B, N, C)
        kw = dict(key_padding_mask=key_padding_mask, global_mask=global_mask)
        if self.reversible:
            return self.norm(reversible_forward(self.blocks, x, caches=caches, **kw))
        for i, blk in enumerate(self.blocks):
            # compiled blocks serve training; evaluation and decoding (a new shape every step) run eagerly
            run = blk if self.training and caches is None else blk._call_impl
            in_graph = self.graph_attention and run is blk and key_padding_mask is None and global_mask is None
            graph = {"graph_mask": blk.attn.graph_mask(x)} if in_graph else {}
            if caches is not None:
                x = run(x, cache=caches[i], **kw)
            elif self.grad_checkpointing and x.requires_grad:
                x = checkpoint(run, x, key_padding_mask, global_mask, use_reentrant=False, **graph)
            else:
                x = run(x, **kw, **graph)
        return self.norm(x)
