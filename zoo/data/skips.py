"""Counting, logging and bounding the samples a pipeline skips (open_clip's `log_and_continue`,
with a budget).

A broken sample (truncated tar, corrupt PNG, bad JSON, missing field) is logged, counted and
dropped; it is never replaced by zeros, which would silently train on garbage. The counters live
in shared memory (`multiprocessing.Value`), so DataLoader workers add to the numbers the trainer
reads in the main process. Once `check_after` samples have gone by, a skip fraction above
`max_skip_fraction` raises `DataSkipError`; eval pipelines also check when their stream ends.

`skipped` counts handler calls: one per broken sample; a truncated tar adds its read error (once
or twice, webdataset reports it at two levels) and the partial sample it leaves, if any.
"""
from __future__ import annotations

import logging
import multiprocessing as mp
from typing import Any

log = logging.getLogger(__name__)


class DataSkipError(RuntimeError):
    """Too many broken samples: the data, not the model, needs attention."""


class SkipCounter:
    """A webdataset `handler` that counts and logs, plus the counters trainers read."""

    def __init__(self, max_skip_fraction: float = 0.01, check_after: int = 100, name: str = "data",
                 context: str | None = None):
        if not 0.0 <= max_skip_fraction <= 1.0:
            raise ValueError(f"max_skip_fraction must be in [0, 1], got {max_skip_fraction}")
        self.max_skip_fraction = max_skip_fraction
        self.check_after = check_after
        self.name = name
        ctx = mp.get_context(context)  # must match the DataLoader workers' start method
        self._seen = ctx.Value("q", 0)     # samples decoded fine
        self._skipped = ctx.Value("q", 0)  # handler calls: broken samples, unreadable shard tails
        self.last_error = ""              # per process; the log has them all

    @property
    def seen(self) -> int:
        return int(self._seen.value)

    @property
    def skipped(self) -> int:
        return int(self._skipped.value)

    @property
    def fraction(self) -> float:
        total = self.seen + self.skipped
        return self.skipped / total if total else 0.0

    def ok(self, n: int = 1) -> None:
        with self._seen.get_lock():
            self._seen.value += n

    def handler(self, exn: BaseException) -> bool:
        """Log and count a broken sample, then continue (True) unless the budget is blown."""
        with self._skipped.get_lock():
            self._skipped.value += 1
            n = self._skipped.value
        self.last_error = f"{type(exn).__name__}: {exn}"
        if n <= 10 or n % 100 == 0:  # the first few in full, then a heartbeat
            log.warning("%s: skipping broken sample #%d: %s", self.name, n, self.last_error)
        self.check()
        return True

    __call__ = handler

    def check(self, final: bool = False) -> None:
        """Raise DataSkipError when the skipped fraction exceeds the budget."""
        seen, skipped = self.seen, self.skipped
        total = seen + skipped
        if not total or (not final and total < self.check_after):
            return
        if skipped / total > self.max_skip_fraction:
            raise DataSkipError(
                f"{self.name}: skipped {skipped} of {total} samples ({skipped / total:.1%}), more than "
                f"max_skip_fraction={self.max_skip_fraction:.1%}; last error: {self.last_error or 'see log'}")

    def reset(self) -> None:
        with self._seen.get_lock():
            self._seen.value = 0
        with self._skipped.get_lock():
            self._skipped.value = 0

    def summary(self) -> dict[str, Any]:
        return {"seen": self.seen, "skipped": self.skipped, "fraction": self.fraction}
