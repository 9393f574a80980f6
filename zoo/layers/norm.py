"""Normalisation layers: LayerNorm (Ba et al. 2016) and RMSNorm (Zhang & Sennrich 2019).

Blocks take the norm *type* as an argument (timm style); ``get_norm_layer`` maps config names.
"""
from __future__ import annotations

from torch import nn

LayerNorm = nn.LayerNorm
RMSNorm = nn.RMSNorm

_NORMS: dict[str, type[nn.Module]] = {"layernorm": LayerNorm, "rmsnorm": RMSNorm}


def get_norm_layer(name: str) -> type[nn.Module]:
    """Norm class by config name ('layernorm' | 'rmsnorm')."""
    if name not in _NORMS:
        raise ValueError(f"unknown norm {name!r}; choose from {sorted(_NORMS)}")
    return _NORMS[name]
