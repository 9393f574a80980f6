"""Image -> token sequence for image-text models: CLIP normalisation, a stem (timm's ``PatchEmbed``,
the ViT stem of Dosovitskiy et al. 2021, or a convolutional stem) and factorized row/column
position embeddings over the patch grid."""
from __future__ import annotations

import torch
from timm.layers import LayerNorm2d, PatchEmbed
from torch import Tensor, nn

from .pos_embed import FactorizedPosEmbed

# open_clip's OPENAI_DATASET_MEAN / STD (copied: importing open_clip costs seconds)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
STEMS = ("patch", "conv")


class ConvStem(nn.Module):
    """Xiao et al. 2021, "Early Convolutions Help Transformers See Better": log2(patch) 3x3
    stride-2 convolutions (norm + ReLU, channels doubling up to dim) and a 1x1 projection in
    place of the one patch-size convolution, the usual cure for ViTs that learn slowly from little
    data. On easy-VQA it did worse than linear patches at equal steps (benchmarks/
    quality_h200.json, session 6), so "patch" stays the default.
    The norm is a per-pixel LayerNorm (ConvNeXt's) instead of the paper's BatchNorm: no running
    statistics, so DeepSpeed's bf16 (which casts parameters, not buffers) and eval need no care.
    (B, 3, H, W) -> (B, (H / patch) * (W / patch), dim)."""

    def __init__(self, patch_size: int, dim: int):
        super().__init__()
        n = patch_size.bit_length() - 1
        if patch_size < 2 or 1 << n != patch_size:
            raise ValueError(f"stem='conv' needs patch_size a power of two >= 2, got {patch_size}")
        layers, c = [], 3
        for i in range(n):
            out = max(dim >> (n - 1 - i), 16)
            layers += [nn.Conv2d(c, out, 3, 2, 1, bias=False), LayerNorm2d(out), nn.ReLU(inplace=True)]
            c = out
        self.convs = nn.Sequential(*layers)
        self.proj = nn.Conv2d(c, dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(self.convs(x)).flatten(2).transpose(1, 2)  # (B, P, dim)


class ImageTokens(nn.Module):
    """float images (B, 3, H, W) in [0, 1] -> (B, P, dim), P = (H / patch) * (W / patch)."""

    def __init__(self, image_size: int, patch_size: int, dim: int, stem: str = "patch"):
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"image_size ({image_size}) must be a multiple of patch_size ({patch_size})")
        if stem not in STEMS:
            raise ValueError(f"stem must be one of {STEMS}, got {stem!r}")
        self.grid = image_size // patch_size
        self.num_tokens = self.grid ** 2
        self.patch_embed = (PatchEmbed(img_size=image_size, patch_size=patch_size, in_chans=3, embed_dim=dim)
                            if stem == "patch" else ConvStem(patch_size, dim))
        self.pos_embed = FactorizedPosEmbed((self.grid, self.grid), dim)
        self.register_buffer("mean", torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(CLIP_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, image: Tensor) -> Tensor:
        x = (image.to(self.mean.dtype) - self.mean) / self.std
        x = x.to(self.patch_embed.proj.weight.dtype)  # DeepSpeed bf16 casts parameters, not buffers
        return self.patch_embed(x) + self.pos_embed(self.num_tokens)  # (B, P, dim)
