"""Model families; importing this package registers every builder with zoo.registry."""
from . import multimodal, pixel, text  # noqa: F401
from .base import SIZE_PRESETS, ZooModel
from .multimodal import Captioner, CaptionerConfig, VQAClassifier, VQAConfig
from .pixel import PixelConfig, PixelTransformer
from .text import ByteLM, Encoder, EncoderConfig, LMConfig

__all__ = ["ByteLM", "Captioner", "CaptionerConfig", "Encoder", "EncoderConfig", "LMConfig", "PixelConfig",
           "PixelTransformer", "SIZE_PRESETS", "VQAClassifier", "VQAConfig", "ZooModel"]
