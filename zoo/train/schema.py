"""Training recipes: YAML loaded into dataclasses, strictly.

A recipe says *what* to train (model name + overrides), *on what* (a shard folder or an embedded
set), *how long and how fast* (schedule), *on what hardware layout* (a DeepSpeed JSON from
``configs/deepspeed/``), and when to evaluate and checkpoint. Every key is checked against the
dataclass that owns it: an unknown or mistyped key raises with its full path and the keys
allowed there, so a typo (``schedule.warmup_step``) never silently trains with a default.

``--set key=value`` edits the raw mapping before validation (``schedule.lr=3e-4``,
``model.overrides.depth=2``); values are parsed as YAML scalars, so numbers stay numbers.
"""
from __future__ import annotations

import dataclasses
import difflib
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class RecipeError(ValueError):
    """A recipe that does not match the schema; the message names the key path."""


@dataclass
class ModelSpec:
    name: str  # a registry name, see `zoo list`
    overrides: dict[str, Any] = field(default_factory=dict)  # passed to create_model(name, **overrides)
    checkpoint: str | None = None  # start from exported weights (safetensors) instead of scratch
    reinit: list[str] = field(default_factory=list)  # weight name prefixes the checkpoint does not give (a new head)


@dataclass
class DataSpec:
    dataset: str  # cifar10 | imagenet64 | enwik8 | text8 | listops | easyvqa | coco | vqav2
    path: str  # shard folder holding index.json (`zoo data convert DATASET --out PATH`)
    kind: str | None = None  # pipeline kind: pixels|bytes|listops|vqa|caption; None: the dataset's only one
    train_split: str = "train"
    eval_split: str = "val"
    seq_len: int | None = None  # byte LMs: window length (None: the model's)
    shuffle: int = 1000  # shuffle buffer (samples)
    workers: int = 0  # DataLoader workers per rank
    max_skip_fraction: float = 0.01  # stop when more broken samples than this are skipped
    options: dict[str, Any] = field(default_factory=dict)  # extra keyword arguments of the pipeline


@dataclass
class ScheduleSpec:
    steps: int  # optimizer steps
    lr: float
    warmup_steps: int = 0
    decay: str = "cosine"  # cosine | linear | constant (after warmup)
    min_lr_ratio: float = 0.1  # floor of the decay, as a fraction of lr
    weight_decay: float = 0.01  # not applied to biases, norms and embeddings (1-D tensors)
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    grad_clip: float | None = None  # None: the DeepSpeed config's gradient_clipping
    # wall-clock budget: the run ends (saved, final eval) at the first step past it, for
    # comparisons at equal time; the clock starts after each process's first (compiling) step and
    # resumes continue it (zoo.train.schedule.RunClock)
    max_minutes: float | None = None
    # what the decay spans: "steps" (warmup_steps .. steps) or "time" (the rest of max_minutes after
    # the warmup: every run of an equal-time comparison ends its decay; steps then only caps the run)
    decay_by: str = "steps"

    def __post_init__(self) -> None:
        if self.decay not in ("cosine", "linear", "constant"):
            raise RecipeError(f"decay: {self.decay!r} is not one of cosine, linear, constant")
        if len(self.betas) != 2:
            raise RecipeError(f"betas: needs two numbers, got {self.betas}")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise RecipeError(f"max_minutes: must be > 0 (or null for no budget), got {self.max_minutes}")
        if self.decay_by not in ("steps", "time"):
            raise RecipeError(f"decay_by: {self.decay_by!r} is not one of steps, time")
        if self.decay_by == "time" and self.max_minutes is None:
            raise RecipeError("decay_by: time decays over schedule.max_minutes; set max_minutes (> 0)")
        if self.steps < 1 or self.warmup_steps < 0 or self.lr <= 0:
            raise RecipeError("steps: steps >= 1, warmup_steps >= 0 and lr > 0 are required")


@dataclass
class EvalSpec:
    every: int = 0  # steps between evaluations (0: only at the end)
    metrics: list[str] = field(default_factory=lambda: ["loss"])  # see zoo.train.evaluate.METRICS
    split: str | None = None  # None: data.eval_split
    max_batches: int | None = None  # None: the whole split
    batch_size: int | None = None  # None: micro_batch
    max_new_tokens: int = 24  # captioning: greedy decoding length
    at_end: bool = True


@dataclass
class CheckpointSpec:
    every: int = 1000  # steps between DeepSpeed checkpoints (all ranks); also on SIGTERM/SIGINT
    keep: int = 2  # newest checkpoints kept (older tags are deleted by rank 0)
    export: bool = True  # write model.safetensors (weights + name + config) with each checkpoint


@dataclass
class LogSpec:
    every: int = 10  # steps between tensorboard / CSV rows
    tensorboard: bool = True
    progress: bool = True  # the progress bar (rank 0)


@dataclass
class Recipe:
    model: ModelSpec
    data: DataSpec
    schedule: ScheduleSpec
    micro_batch: int  # per rank and micro-step
    deepspeed: str = "configs/deepspeed/zero2_bf16.json"  # relative to the repository root or cwd
    grad_accum: int = 1
    seed: int = 0
    out: str | None = None  # run folder; None: runs/<recipe name>
    eval: EvalSpec = field(default_factory=EvalSpec)
    checkpoint: CheckpointSpec = field(default_factory=CheckpointSpec)
    log: LogSpec = field(default_factory=LogSpec)
    description: str = ""
    name: str = ""  # filled from the file name when empty

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------------------------------------
# strict conversion: mapping -> dataclass


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, path)
            except RecipeError as e:
                errors.append(str(e))
        raise RecipeError(errors[0] if len(errors) == 1 else
                          f"{path}: {value!r} is not {' or '.join(_type_name(a) for a in args)}")
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, path)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise RecipeError(f"{path}: expected a list, got {type(value).__name__} {value!r}")
        (item,) = typing.get_args(tp) or (Any,)
        return [_convert(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise RecipeError(f"{path}: expected a mapping, got {type(value).__name__} {value!r}")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise RecipeError(f"{path}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RecipeError(f"{path}: expected an integer, got {type(value).__name__} {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads "3e-4" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RecipeError(f"{path}: expected a number, got {type(value).__name__} {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise RecipeError(f"{path}: expected a string, got {type(value).__name__} {value!r}")
        return value
    raise TypeError(f"{path}: schema type {tp} is not supported")  # a bug in this file


def from_dict(cls: type, data: Any, path: str = "recipe") -> Any:
    """Build dataclass ``cls`` from ``data``; unknown, missing or mistyped keys raise RecipeError."""
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: expected a mapping, got {type(data).__name__} {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise RecipeError(f"{path}.{key}: unknown key{hint}; allowed keys: {', '.join(fields)}")
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _convert(data[name], hints[name], f"{path}.{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise RecipeError(f"{path}.{name}: required key is missing")
    try:
        return cls(**kwargs)
    except RecipeError as e:  # __post_init__ checks name the key relative to this mapping
        raise RecipeError(f"{path}.{e}") from None


# ---------------------------------------------------------------------------------------------
# --set key=value


def apply_override(raw: dict[str, Any], assignment: str) -> None:
    """Apply ``a.b.c=value`` to the raw mapping (value parsed as YAML)."""
    if "=" not in assignment:
        raise RecipeError(f"--set {assignment!r}: expected key=value")
    key, text = assignment.split("=", 1)
    parts = key.strip().split(".")
    if not all(parts):
        raise RecipeError(f"--set {assignment!r}: empty key")
    value = yaml.safe_load(text) if text.strip() else ""
    node = raw
    for i, p in enumerate(parts[:-1]):
        nxt = node.get(p)
        if nxt is None:
            nxt = node[p] = {}
        if not isinstance(nxt, dict):
            raise RecipeError(f"--set {key}: recipe.{'.'.join(parts[:i + 1])} is not a mapping")
        node = nxt
    node[parts[-1]] = value


def load_yaml(cls: type, path: str | os.PathLike, overrides: list[str] | None = None):
    """A YAML file with ``--set`` overrides applied, checked into dataclass ``cls`` (training and
    distillation recipes share this; errors carry the file and the key path)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such recipe (recipes live in recipes/<dataset>/*.yaml)")
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise RecipeError(f"{path}: a recipe is a mapping at top level")
    for a in overrides or []:
        apply_override(raw, a)
    try:
        return from_dict(cls, raw, "recipe")
    except RecipeError as e:
        raise RecipeError(f"{path}: {e}") from None


def load_recipe(path: str | os.PathLike, overrides: list[str] | None = None) -> Recipe:
    """Read a recipe YAML, apply ``--set`` overrides, validate."""
    path = Path(path)
    recipe = load_yaml(Recipe, path, overrides)
    if not recipe.name:
        recipe.name = f"{path.parent.name}/{path.stem}" if path.parent.name else path.stem
    if recipe.micro_batch < 1 or recipe.grad_accum < 1:
        raise RecipeError(f"{path}: micro_batch and grad_accum must be >= 1")
    return recipe


def dump_recipe(recipe: Recipe, path: str | os.PathLike) -> None:
    """Write the resolved recipe (every default spelled out) next to the run."""
    Path(path).write_text(yaml.safe_dump(recipe.to_dict(), sort_keys=False))
