"""Autoregressive image models over the pixel raster, after the Sparse Transformer (Child et al.
2019, "Generating Long Sequences with Sparse Transformers"): an image is the sequence of its
sub-pixels in (row, column, channel) order — 3,072 tokens for CIFAR-10, 12,288 for ImageNet
64x64 — each predicted with a 256-way softmax; loss in nats, reported as bits/dim.

Strided attention uses stride = one row of the raster (3 * W sub-pixels), so A1 covers the row
above and A2 the same column of every earlier row; fixed attention uses the same block length.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..layers import FactorizedPosEmbed, LearnedPosEmbed, Transformer, TransformerConfig
from .base import ZooModel, make_config, mean_nll, preset
from .generation import decode

SOS = 256  # input id of the start token; sub-pixel values are 0..255


def rasterize(image: Tensor) -> Tensor:
    """uint8 (B, C, H, W) -> long (B, H*W*C) in (row, column, channel) order."""
    return image.permute(0, 2, 3, 1).reshape(image.shape[0], -1).long()


def unrasterize(tokens: Tensor, channels: int, size: int) -> Tensor:
    """long (B, H*W*C) -> uint8 (B, C, H, W)."""
    return tokens.view(-1, size, size, channels).permute(0, 3, 1, 2).to(torch.uint8)


@dataclass
class PixelConfig(TransformerConfig):
    image_size: int = 32
    channels: int = 3
    pos: str = "factorized"  # factorized (row, column, channel) | learned


class PixelTransformer(ZooModel):
    """Input at position t is sub-pixel t-1 (a learned start token at t = 0) plus the position
    embedding of t, so logits[:, t] predict sub-pixel t: (B, 3HW, 256)."""

    family, modality = "pixel", "image"

    def __init__(self, cfg: PixelConfig):
        super().__init__(cfg)
        n, row = self.max_seq_len, cfg.channels * cfg.image_size
        self.pattern_params = self._geometry_defaults(cfg, row)
        self.tok_embed = nn.Embedding(257, cfg.dim)  # 256 values + start token
        if cfg.pos == "factorized":
            self.pos_embed = FactorizedPosEmbed((cfg.image_size, cfg.image_size, cfg.channels), cfg.dim)
        elif cfg.pos == "learned":
            self.pos_embed = LearnedPosEmbed(n, cfg.dim)
        else:
            raise ValueError(f"pos must be 'factorized' or 'learned', got {cfg.pos!r}")
        self.drop = nn.Dropout(cfg.dropout)
        self.backbone = Transformer(cfg, self._layer_patterns(True, n, self.pattern_params), max_len=n)
        self.head = nn.Linear(cfg.dim, 256, bias=False)
        self.init_weights()

    @staticmethod
    def _geometry_defaults(cfg: PixelConfig, row: int) -> dict:
        """Fill pattern parameters left out by the builder from the raster geometry."""
        p = dict(cfg.pattern_params)
        if cfg.pattern in ("strided", "fixed"):
            p.setdefault("stride", row)  # one row of the raster
        if cfg.pattern == "sliding_window":
            p.setdefault("left", 2 * row - 1)  # the two rows above
            p.setdefault("right", 0)
        return p

    @property
    def max_seq_len(self) -> int:
        c = self.config
        return c.channels * c.image_size ** 2

    def forward_tokens(self, inputs: Tensor, caches=None, start: int = 0) -> Tensor:
        """inputs (B, N): previous sub-pixel ids (SOS first) at positions start.. -> logits (B, N, 256)."""
        x = self.tok_embed(inputs) + self.pos_embed(inputs.shape[1], start)  # (B, N, C)
        return self.head(self.backbone(self.drop(x), caches=caches))

    def forward(self, image: Tensor, **kwargs) -> dict[str, Tensor]:
        target = rasterize(image)  # (B, N)
        sos = torch.full_like(target[:, :1], SOS)
        logits = self.forward_tokens(torch.cat([sos, target[:, :-1]], dim=1))
        loss = mean_nll(logits, target)
        return {"logits": logits, "loss": loss, "bpd": loss.detach() / math.log(2)}

    @torch.no_grad()
    def sample(self, n: int, use_cache: bool = True, temperature: float = 1.0, top_k: int | None = None,
               generator: torch.Generator | None = None) -> Tensor:
        """n images, uint8 (n, C, H, W), sampled sub-pixel by sub-pixel."""
        c = self.config
        prompt = torch.full((n, 1), SOS, dtype=torch.long, device=self._device())
        tokens = decode(self.forward_tokens, prompt, self.max_seq_len, new_caches=self.backbone.new_caches,
                        use_cache=use_cache, temperature=temperature, top_k=top_k, generator=generator)
        return unrasterize(tokens, c.channels, c.image_size)

    @torch.no_grad()
    def generate(self, batch: dict[str, Tensor], max_new_tokens: int, use_cache: bool = True,
                 temperature: float = 0.0, top_k: int | None = None,
                 generator: torch.Generator | None = None) -> Tensor:
        """Continue a partial raster: batch["input_ids"] (B, N0) are the first sub-pixel values
        (may be empty); returns the next ``max_new_tokens`` values (B, T)."""
        known = batch.get("input_ids")
        dev = self._device()
        if known is None:
            known = torch.zeros(batch["image"].shape[0] if "image" in batch else 1, 0, dtype=torch.long, device=dev)
        if known.shape[1] + max_new_tokens > self.max_seq_len:
            raise ValueError(f"{known.shape[1]} + {max_new_tokens} sub-pixels exceed {self.max_seq_len}")
        prompt = torch.cat([torch.full((known.shape[0], 1), SOS, dtype=torch.long, device=dev), known.to(dev)], dim=1)
        return decode(self.forward_tokens, prompt, max_new_tokens, new_caches=self.backbone.new_caches,
                      use_cache=use_cache, temperature=temperature, top_k=top_k, generator=generator)

    def dummy_inputs(self, batch_size: int = 2, seed: int = 0) -> dict[str, Tensor]:
        c = self.config
        g = torch.Generator().manual_seed(seed)
        img = torch.randint(0, 256, (batch_size, c.channels, c.image_size, c.image_size), generator=g)
        return {"image": img.to(torch.uint8).to(self._device())}


# ------------------------------------------------------------------------------------------------
_IMAGE = {"cifar10": 32, "imagenet64": 64}


def _pixel(size: str, variant: str, dataset: str | None, **overrides) -> PixelTransformer:
    image = 8 if size == "tiny" else _IMAGE[dataset]
    if variant == "strided":
        pat = dict(pattern="strided")
        if size in ("base", "large") and dataset == "imagenet64":  # alternate A1 / A2 layers (§4.2)
            pat.update(schedule="alternate")
    elif variant == "fixed":
        pat = dict(pattern="fixed", pattern_params=dict(summary=4 if size == "tiny" else 16))
    elif variant == "sliding":
        pat = dict(pattern="sliding_window")
    elif variant == "dense":
        pat = dict(pattern="dense")
    else:
        raise ValueError(variant)
    defaults = preset(size, image_size=image, **pat)
    return PixelTransformer(make_config(PixelConfig, defaults, overrides))


from ..registry import register_model  # noqa: E402


@register_model("pixel_tiny_strided")
def pixel_tiny_strided(**kw): return _pixel("tiny", "strided", None, **kw)
@register_model("pixel_tiny_fixed")
def pixel_tiny_fixed(**kw): return _pixel("tiny", "fixed", None, **kw)
@register_model("pixel_tiny_sliding")
def pixel_tiny_sliding(**kw): return _pixel("tiny", "sliding", None, **kw)
@register_model("pixel_tiny_dense")
def pixel_tiny_dense(**kw): return _pixel("tiny", "dense", None, **kw)
@register_model("pixel_small_strided.cifar10")
def pixel_small_strided_cifar10(**kw): return _pixel("small", "strided", "cifar10", **kw)
@register_model("pixel_small_fixed.cifar10")
def pixel_small_fixed_cifar10(**kw): return _pixel("small", "fixed", "cifar10", **kw)
@register_model("pixel_small_sliding.cifar10")
def pixel_small_sliding_cifar10(**kw): return _pixel("small", "sliding", "cifar10", **kw)
@register_model("pixel_small_dense.cifar10")
def pixel_small_dense_cifar10(**kw): return _pixel("small", "dense", "cifar10", **kw)
@register_model("pixel_base_strided.cifar10")
def pixel_base_strided_cifar10(**kw): return _pixel("base", "strided", "cifar10", **kw)
@register_model("pixel_large_strided.cifar10")
def pixel_large_strided_cifar10(**kw): return _pixel("large", "strided", "cifar10", **kw)
@register_model("pixel_small_strided.imagenet64")
def pixel_small_strided_imagenet64(**kw): return _pixel("small", "strided", "imagenet64", **kw)
@register_model("pixel_small_fixed.imagenet64")
def pixel_small_fixed_imagenet64(**kw): return _pixel("small", "fixed", "imagenet64", **kw)
@register_model("pixel_small_dense.imagenet64")
def pixel_small_dense_imagenet64(**kw): return _pixel("small", "dense", "imagenet64", **kw)
@register_model("pixel_base_strided.imagenet64")
def pixel_base_strided_imagenet64(**kw): return _pixel("base", "strided", "imagenet64", **kw)
@register_model("pixel_base_fixed.imagenet64")
def pixel_base_fixed_imagenet64(**kw): return _pixel("base", "fixed", "imagenet64", **kw)
@register_model("pixel_large_strided.imagenet64")
def pixel_large_strided_imagenet64(**kw): return _pixel("large", "strided", "imagenet64", **kw)
