"""The learning-rate schedule and the run's training clock.

A schedule planned in steps cannot finish its decay inside a wall-clock budget
(``schedule.max_minutes``) without knowing the step rate in advance: runs compared at equal time
would stop mid-decay, the slower model further from its floor. ``schedule.decay_by: time`` decays
over the budget instead, read from ``RunClock``, which resumes continue and every rank agrees on.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from .schema import Recipe


@dataclass
class RunClock:
    """Training time of a run in seconds, summed over the processes that trained it (a resume
    continues it). It counts from the end of each process's first (compiling) step, so equal-time
    runs compare training, not compilers. The engine sets ``elapsed_s`` once per step to the ranks'
    mean, so every rank schedules the same learning rate. The schedule reads it a step late (DeepSpeed
    steps the scheduler inside the optimizer step, before the engine agrees on that step's time)."""
    elapsed_s: float = 0.0
    warmup_end_s: float | None = None  # elapsed_s when the warmup's last step ended

    def update(self, elapsed_s: float, step: int, warmup_steps: int) -> None:
        """After optimizer step ``step`` (1-based) the agreed training time is ``elapsed_s``."""
        self.elapsed_s = elapsed_s
        if self.warmup_end_s is None and step >= warmup_steps:
            self.warmup_end_s = 0.0 if warmup_steps == 0 else elapsed_s

    def state(self) -> dict:
        return asdict(self)

    def load(self, state: dict | None) -> None:
        """Set from a checkpoint's client state, in place (the schedule holds this clock; checkpoints
        without one start at zero)."""
        restored = RunClock(**(state or {}))
        self.elapsed_s, self.warmup_end_s = restored.elapsed_s, restored.warmup_end_s


def lr_lambda(recipe: Recipe, clock: RunClock | None = None):
    """Multiplier of the base lr at optimizer step t: linear warmup over ``warmup_steps``, then
    cosine/linear/constant decay to ``min_lr_ratio`` over the remaining steps, or with
    ``decay_by: time`` over the training time left of ``max_minutes`` after the warmup (``clock``)."""
    s = recipe.schedule
    if s.decay_by == "time" and clock is None:
        raise ValueError("schedule.decay_by=time needs the run's clock")

    def frac_done(t: int) -> float:
        if s.decay_by == "time":
            start = clock.elapsed_s if clock.warmup_end_s is None else clock.warmup_end_s
            return (clock.elapsed_s - start) / max(60 * s.max_minutes - start, 1e-9)
        return (t - s.warmup_steps) / max(1, s.steps - s.warmup_steps)

    def f(t: int) -> float:
        if t < s.warmup_steps:
            return (t + 1) / s.warmup_steps
        if s.decay == "constant":
            return 1.0
        frac = min(1.0, max(0.0, frac_done(t)))
        shape = 0.5 * (1 + math.cos(math.pi * frac)) if s.decay == "cosine" else 1 - frac
        return s.min_lr_ratio + (1 - s.min_lr_ratio) * shape

    return f
