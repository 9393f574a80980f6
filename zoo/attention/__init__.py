"""The shared sparse-attention core: patterns, block layouts, kernels and the dispatcher.

Nothing in here knows about models or data.
"""
from . import patterns
from .attention import BACKENDS, KVCache, SparseSelfAttention, sparse_attention
from .patterns import Pattern, available, build

__all__ = ["BACKENDS", "KVCache", "Pattern", "SparseSelfAttention", "available", "build", "patterns",
           "sparse_attention"]
