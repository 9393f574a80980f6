"""Model registry, after timm's ``_registry.py`` / ``_builder.py``: ``@register_model`` on short
builder functions, wildcard listing with natural sort, creation with overrides, metadata.

Names are ``{family}_{size}_{pattern}[.{tag}]`` (``pixel_small_strided.cifar10``). The name only
files a model; the builder picks the architecture class and its dataclass config explicitly.
Checkpoints are safetensors files whose metadata carries ``model_name`` and the config as JSON,
so loading never unpickles anything.
"""
from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import functools
import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn

SIZES = ("tiny", "small", "base", "large")
MODALITIES = {"lm": "text", "encoder": "text", "pixel": "image", "captioner": "image-text", "vqa": "image-text"}
_NAME_RE = re.compile(r"^(?P<family>[a-z0-9]+)_(?P<size>[a-z]+)_(?P<pattern>[a-z0-9]+)(?:\.(?P<tag>[a-z0-9_]+))?$")
_MODELS: dict[str, Callable[..., nn.Module]] = {}


class UnknownModelError(ValueError):
    """An unregistered model name; the message lists the closest registered names."""


def split_name(name: str) -> dict[str, str | None]:
    """``pixel_small_strided.cifar10`` -> {family: pixel, size: small, pattern: strided, tag: cifar10}."""
    m = _NAME_RE.match(name)
    if not m or m["size"] not in SIZES:
        raise ValueError(f"model names look like {{family}}_{{size}}_{{pattern}}[.{{tag}}] with size in {SIZES}; "
                         f"got {name!r}")
    return m.groupdict()


def register_model(name: str | Callable | None = None):
    """Register a builder ``fn(**overrides) -> nn.Module`` under ``name``.

    ``@register_model("lm_small_lsh.enwik8")``; bare ``@register_model`` uses the function's name
    with ``__`` standing for the tag dot (``lm_small_lsh__enwik8``).
    """
    def deco(fn: Callable[..., nn.Module], model_name: str | None = None) -> Callable[..., nn.Module]:
        model_name = model_name or fn.__name__.replace("__", ".")
        split_name(model_name)
        if model_name in _MODELS and _MODELS[model_name] is not fn:
            raise ValueError(f"model {model_name!r} is already registered")
        _MODELS[model_name] = fn
        return fn
    if callable(name):
        return deco(name)
    return functools.partial(deco, model_name=name)


def _ensure_registered() -> None:
    from . import models  # noqa: F401  (importing the families registers their builders)


def _natural_key(s: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def list_models(pattern: str | Iterable[str] = "*", family: str | None = None, size: str | None = None,
                exclude: str | Iterable[str] = ()) -> list[str]:
    """Registered names matching the wildcard(s), naturally sorted.

    ``list_models("*bigbird*")``, ``list_models(family="pixel", size="tiny")``.
    """
    _ensure_registered()
    pats = [pattern] if isinstance(pattern, str) else list(pattern)
    excl = [exclude] if isinstance(exclude, str) else list(exclude)
    out = []
    for name in _MODELS:
        parts = split_name(name)
        if family is not None and parts["family"] != family:
            continue
        if size is not None and parts["size"] != size:
            continue
        if any(fnmatch.fnmatchcase(name, p) for p in pats) and not any(fnmatch.fnmatchcase(name, p) for p in excl):
            out.append(name)
    return sorted(out, key=_natural_key)


def is_model(name: str) -> bool:
    _ensure_registered()
    return name in _MODELS


def _builder(name: str) -> Callable[..., nn.Module]:
    _ensure_registered()
    if name not in _MODELS:
        close = difflib.get_close_matches(name, list(_MODELS), n=3, cutoff=0.0)
        raise UnknownModelError(f"unknown model {name!r}; closest: {', '.join(close)} (see `zoo list`)")
    return _MODELS[name]


def create_model(name: str, checkpoint: str | Path | None = None, reinit: tuple[str, ...] | list[str] = (),
                 **overrides: Any) -> nn.Module:
    """Build a registered model; ``None`` overrides are dropped, unknown keys raise.

    ``checkpoint``: a safetensors file written by ``save_checkpoint``; its config is applied
    before ``overrides`` and its weights are loaded strictly, except the parameters under the
    name prefixes in ``reinit`` (a new task head), which keep their fresh initialisation.
    """
    fn = _builder(name)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if checkpoint is not None:
        meta = read_checkpoint_metadata(checkpoint)
        if meta.get("model_name") != name:
            raise ValueError(f"checkpoint {checkpoint} holds {meta.get('model_name')!r}, not {name!r}")
        overrides = {**json.loads(meta["config"]), **overrides}
    model = fn(**overrides)
    model.model_name = name
    if checkpoint is not None:
        load_weights(model, checkpoint, reinit)
    elif reinit:
        raise ValueError("reinit names weights not to take from a checkpoint; there is no checkpoint")
    return model


def load_weights(model: nn.Module, path: str | Path, reinit: tuple[str, ...] | list[str] = ()) -> None:
    """Load a safetensors file strictly. Tied weights may be stored once (``save_checkpoint``)
    or under every name (an export of a plain state dict); both load. Names under the prefixes in
    ``reinit`` are neither read nor required (each prefix must name some of the model's weights)."""
    from safetensors.torch import load_file
    state = load_file(str(path))
    reinit = tuple(reinit)
    if reinit:
        own_names = list(model.state_dict())
        for prefix in reinit:
            if not any(n.startswith(prefix) for n in own_names):
                raise ValueError(f"reinit: {prefix!r} names none of {getattr(model, 'model_name', 'the model')}'s "
                                 f"weights (e.g. {own_names[-1]!r})")
        state = {k: v for k, v in state.items() if not k.startswith(reinit)}
        kept = {k: v for k, v in model.state_dict().items() if k.startswith(reinit)}
        state.update(kept)  # the fresh weights load onto themselves: strict loading still checks the rest
    own = model.state_dict()
    by_storage: dict[tuple, list[str]] = {}
    for k, v in own.items():
        by_storage.setdefault((v.untyped_storage().data_ptr(), v.storage_offset(), tuple(v.shape)), []).append(k)
    for names in by_storage.values():  # fill a tied name left out of the file from its twin
        present = [n for n in names if n in state]
        for n in names:
            if n not in state and present:
                state[n] = state[present[0]]
    model.load_state_dict(state, strict=True)


def save_checkpoint(model: nn.Module, path: str | Path, metadata: dict[str, str] | None = None) -> None:
    """Weights + {"model_name", "config" (JSON)} as a safetensors file (tied weights handled)."""
    from safetensors.torch import save_model

    from . import __version__
    name = getattr(model, "model_name", None)
    if name is None:
        raise ValueError("model has no model_name; build it with zoo.create_model")
    meta = {"model_name": name, "config": json.dumps(dataclasses.asdict(model.config)), "zoo_version": __version__}
    save_model(model, str(path), metadata={**(metadata or {}), **meta})


def read_checkpoint_metadata(path: str | Path) -> dict[str, str]:
    from safetensors import safe_open
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if "model_name" not in meta or "config" not in meta:
        raise ValueError(f"{path} is not a zoo checkpoint (metadata needs model_name and config)")
    return meta


def load_checkpoint(path: str | Path, **overrides: Any) -> nn.Module:
    """The model a checkpoint names, with its config and weights."""
    return create_model(read_checkpoint_metadata(path)["model_name"], checkpoint=path, **overrides)


@functools.lru_cache(maxsize=None)
def _info(name: str) -> dict[str, Any]:
    from .layers import describe_schedule
    parts = split_name(name)
    with torch.device("meta"):  # no memory, no init cost: counts are those of the real model
        model = create_model(name)
    cfg = model.config
    tag = parts["tag"]
    return {
        "name": name,
        "family": parts["family"],
        "size": parts["size"],
        "variant": parts["pattern"],
        "tag": tag,
        "architecture": type(model).__name__,
        "modality": getattr(model, "modality", MODALITIES.get(parts["family"])),
        "params": sum(p.numel() for p in model.parameters()),
        "max_seq_len": int(model.max_seq_len),
        "pattern": cfg.pattern,
        "pattern_params": dict(getattr(model, "pattern_params", cfg.pattern_params)),
        "schedule": cfg.schedule,
        "layers": describe_schedule(model.patterns),
        "default_recipe": f"recipes/{tag}/{name.split('.')[0]}.yaml" if tag else None,
        "config": dataclasses.asdict(cfg),
    }


def model_info(name: str) -> dict[str, Any]:
    """family, size, params, max_seq_len, pattern (+ params, per-layer), modality, default recipe."""
    _builder(name)
    return json.loads(json.dumps(_info(name), default=str))  # a fresh copy the caller may edit
