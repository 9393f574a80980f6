"""``zoo distill`` recipes: teacher, student, data, losses, learned layout and schedule, loaded
strictly (a misspelled key fails with its path) through the training recipes' YAML loader."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .train.schema import RecipeError, load_yaml


@dataclass
class TeacherSpec:
    name: str  # a registry model with the `dense` pattern
    overrides: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None  # a zoo safetensors checkpoint; else the teacher is trained first
    steps: int | None = None  # teacher training steps (None: schedule.steps)


@dataclass
class StudentSpec:
    name: str  # same family as the teacher, a sparse pattern
    overrides: dict[str, Any] = field(default_factory=dict)
    init: str = "scratch"  # scratch | teacher (copy the teacher's weights: same architecture)


@dataclass
class DataSpec:
    dataset: str  # easyvqa (pixel models) | text (byte LMs)
    source: str = "pydoc_topics"  # text: pydoc_topics (CPython's pydoc_data.topics), pystdlib (the
    #                               stdlib's Lib/**/*.py, ~30 MB) or a file path
    image_size: int = 16  # easyvqa: images resized 64 -> image_size (PIL box filter)
    train_images: int = 2000
    heldout_images: int = 200  # from the easy-VQA test split
    seq_len: int = 512  # text: window length
    heldout_fraction: float = 0.1  # text: the last share of the bytes is held out


@dataclass
class LossSpec:
    task: float = 1.0
    alpha: float = 0.0  # logit distillation weight
    temperature: float = 2.0
    beta: float = 0.0  # attention-map distillation weight
    attn_rows: int = 64  # query rows sampled per step for attention-map distillation (0: all)


@dataclass
class LayoutSpec:
    enabled: bool = False
    block: int = 32
    coverage: float = 0.9
    budget: int | str = 4  # max key blocks per query block, or "match": the largest budget whose
    #                        pairs do not exceed the student's own pattern's
    calibration_batches: int = 4


@dataclass
class ScheduleSpec:
    steps: int
    lr: float = 1e-3
    batch_size: int = 8
    warmup_steps: int = 20
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.01
    grad_clip: float = 1.0


@dataclass
class DistillRecipe:
    teacher: TeacherSpec
    student: StudentSpec
    data: DataSpec
    schedule: ScheduleSpec
    loss: LossSpec = field(default_factory=LossSpec)
    layout: LayoutSpec = field(default_factory=LayoutSpec)
    description: str = ""
    out: str = "runs/distill/run"
    seed: int = 0
    device: str = "cpu"  # cpu | cuda | auto
    threads: int = 0  # torch.set_num_threads (0: leave as is)
    log_every: int = 50


def load_recipe(path: str | Path, sets: list[str] | None = None) -> DistillRecipe:
    r = load_yaml(DistillRecipe, path, sets)
    if r.student.init not in ("scratch", "teacher"):
        raise RecipeError(f"{path}: student.init must be scratch or teacher, got {r.student.init!r}")
    if isinstance(r.layout.budget, str) and r.layout.budget != "match":
        raise RecipeError(f"{path}: layout.budget must be an integer or 'match', got {r.layout.budget!r}")
    return r
