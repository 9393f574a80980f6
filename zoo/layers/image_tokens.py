"""Image -> token sequence for image-text models: CLIP normalisation, timm's ``PatchEmbed``
(the ViT stem, Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words") and factorized
row/column position embeddings over the patch grid."""
from __future__ import annotations

import torch
from timm.layers import PatchEmbed
from torch import Tensor, nn

from .pos_embed import FactorizedPosEmbed

# open_clip's OPENAI_DATASET_MEAN / STD (copied: importing open_clip costs seconds)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class ImageTokens(nn.Module):
    """float images (B, 3, H, W) in [0, 1] -> (B, P, dim), P = (H / patch) * (W / patch)."""

    def __init__(self, image_size: int, patch_size: int, dim: int):
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"image_size ({image_size}) must be a multiple of patch_size ({patch_size})")
        self.grid = image_size // patch_size
        self.num_tokens = self.grid ** 2
        self.patch_embed = PatchEmbed(img_size=image_size, patch_size=patch_size, in_chans=3, embed_dim=dim)
        self.pos_embed = FactorizedPosEmbed((self.grid, self.grid), dim)
        self.register_buffer("mean", torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(CLIP_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, image: Tensor) -> Tensor:
        x = (image.to(self.mean.dtype) - self.mean) / self.std
        x = x.to(self.patch_embed.proj.weight.dtype)  # DeepSpeed bf16 casts parameters, not buffers
        return self.patch_embed(x) + self.pos_embed(self.num_tokens)  # (B, P, dim)
