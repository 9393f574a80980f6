"""Building blocks shared by every model family: one idea per file (timm style)."""
from .block import Block
from .image_tokens import ImageTokens
from .mlp import Mlp, SwiGLU, get_mlp_layer
from .norm import LayerNorm, RMSNorm, get_norm_layer
from .pos_embed import FactorizedPosEmbed, LearnedPosEmbed
from .reversible import reversible_forward
from .rotary import RotaryEmbedding, RotaryLinear, apply_rotary
from .schedule import SCHEDULES, describe_schedule, layer_patterns
from .transformer import Transformer, TransformerConfig

__all__ = ["Block", "FactorizedPosEmbed", "ImageTokens", "LayerNorm", "LearnedPosEmbed", "Mlp", "RMSNorm", "RotaryEmbedding",
           "RotaryLinear", "SCHEDULES", "SwiGLU", "Transformer", "TransformerConfig", "apply_rotary",
           "describe_schedule", "get_mlp_layer", "get_norm_layer", "layer_patterns", "reversible_forward"]
