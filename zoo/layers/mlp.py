"""Feed-forward layers, taken from timm: the GELU MLP of "Attention Is All You Need" /
GPT-2, and SwiGLU (Shazeer 2020, "GLU Variants Improve Transformer")."""
from __future__ import annotations

from timm.layers import Mlp, SwiGLU
from torch import nn

_MLPS: dict[str, type[nn.Module]] = {"gelu": Mlp, "swiglu": SwiGLU}


def get_mlp_layer(name: str) -> type[nn.Module]:
    """MLP class by config name ('gelu' | 'swiglu'); both take (in_features, hidden_features, drop)."""
    if name not in _MLPS:
        raise ValueError(f"unknown mlp {name!r}; choose from {sorted(_MLPS)}")
    return _MLPS[name]


__all__ = ["Mlp", "SwiGLU", "get_mlp_layer"]
