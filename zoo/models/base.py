"""What every zoo model shares: the config/override plumbing used by builders, weight init
(GPT-2 / nanoGPT: N(0, 0.02), residual projections scaled by 1/sqrt(2 * depth)) and the
timm-style hooks ``no_weight_decay`` and ``set_grad_checkpointing``."""
from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar, TypeVar

import torch
from torch import Tensor, nn

from ..layers import Transformer, TransformerConfig, layer_patterns

C = TypeVar("C", bound=TransformerConfig)


def make_config(config_cls: type[C], defaults: dict[str, Any], overrides: dict[str, Any]) -> C:
    """A builder's defaults with user overrides applied.

    Unknown keys raise, naming the allowed ones. Overriding ``pattern`` (or ``schedule``) without
    its ``*_params`` starts those params from empty, since the old ones belong to another
    pattern; a ``pattern_params`` / ``schedule_params`` override for the same pattern is merged.
    """
    allowed = [f.name for f in dataclasses.fields(config_cls)]
    bad = sorted(set(overrides) - set(allowed))
    if bad:
        raise TypeError(f"unknown override(s) {bad} for {config_cls.__name__}; allowed: {', '.join(allowed)}")
    merged = dict(defaults)
    for key in ("pattern", "schedule"):
        if key in overrides and overrides[key] != defaults.get(key):
            merged[f"{key}_params"] = {}
            if key == "pattern" and "schedule" not in overrides:
                merged["schedule"], merged["schedule_params"] = "same", {}
    for key, value in overrides.items():
        if key in ("pattern_params", "schedule_params"):
            merged[key] = {**merged.get(key, {}), **dict(value)}
        else:
            merged[key] = value
    return config_cls(**merged)


class ZooModel(nn.Module):
    """Base class: subclasses set ``family`` / ``modality`` and build ``self.backbone``."""

    family: ClassVar[str] = ""
    modality: ClassVar[str] = ""
    backbone: Transformer

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = config
        self.model_name: str | None = None  # set by zoo.create_model

    # --- construction helpers -----------------------------------------------------------------
    def _layer_patterns(self, causal: bool, max_len: int, params: dict[str, Any] | None = None) -> list:
        cfg = self.config
        return layer_patterns(cfg.pattern, cfg.pattern_params if params is None else params, cfg.depth,
                              causal=causal, max_len=max_len, num_heads=cfg.num_heads, schedule=cfg.schedule,
                              schedule_params=cfg.schedule_params)

    def init_weights(self) -> None:
        """N(0, 0.02) for linears and embeddings, zero biases; residual output projections get
        std 0.02 / sqrt(2 * depth). Routing state (anchors) keeps its own initialisation."""
        depth = self.config.depth
        for name, m in self.named_modules():
            if ".router" in name or name.startswith("router"):
                continue
            if isinstance(m, nn.Linear):
                residual = name.endswith("attn.proj") or name.endswith("mlp.fc2")
                nn.init.normal_(m.weight, std=0.02 / math.sqrt(2 * depth) if residual else 0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Embedding):
                nn.init.normal_(m.weight, std=0.02)

    # --- timm-style hooks ---------------------------------------------------------------------
    def no_weight_decay(self) -> set[str]:
        """Parameter names to exclude from weight decay: embeddings tables of positions and
        special tokens, norms and biases (every parameter with fewer than 2 dims)."""
        keys = ("pos_embed", "cls_token", "sos_token", "logit_scale")
        return {n for n, p in self.named_parameters() if p.ndim < 2 or any(k in n for k in keys)}

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.backbone.grad_checkpointing = enable

    # --- introspection ------------------------------------------------------------------------
    @property
    def max_seq_len(self) -> int:
        """Longest sequence the backbone runs (all tokens: image + text for image-text models)."""
        raise NotImplementedError(f"{type(self).__name__}: each model family defines max_seq_len")

    @property
    def patterns(self) -> list:
        return self.backbone.patterns

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def dummy_inputs(self, batch_size: int = 2, seed: int = 0) -> dict[str, Tensor]:
        raise NotImplementedError(f"{type(self).__name__}: each model family defines its dummy inputs")

    def _device(self) -> torch.device:
        return next(self.parameters()).device


def mean_nll(logits: Tensor, labels: Tensor, ignore_index: int = -100) -> Tensor:
    """Mean NLL in nats over the non-ignored labels; logits (..., V), labels (...).

    A batch whose labels are all ignored gives 0 (with a gradient path), not NaN."""
    flat = labels.reshape(-1)
    nll = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), flat,
                                      ignore_index=ignore_index, reduction="sum")
    return nll / (flat != ignore_index).sum().clamp(min=1)


# Backbone presets per registry size; families add their own sequence geometry.
SIZE_PRESETS: dict[str, dict[str, Any]] = {
    "tiny": dict(dim=32, depth=2, num_heads=2, mlp_ratio=2.0),  # CPU tests: seconds
    "small": dict(dim=256, depth=6, num_heads=8),
    "base": dict(dim=512, depth=12, num_heads=8),
    "large": dict(dim=1024, depth=24, num_heads=16),
}


def preset(size: str, **extra: Any) -> dict[str, Any]:
    return {**SIZE_PRESETS[size], **extra}
