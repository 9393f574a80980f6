"""Run logs: tensorboard + CSV + a progress bar (loss, lr, tokens/s, ETA), on rank 0 only.

Two CSV files keep their columns fixed: ``train.csv`` (one row per logged step) and
``eval.csv`` (long format: step, split, metric, value), so a metric added later never shifts a
column. Other ranks get a `RunLogger` whose methods do nothing.
"""
from __future__ import annotations

import csv
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Mapping

TRAIN_COLUMNS = ("step", "loss", "lr", "grad_norm", "tokens_per_s", "samples_per_s", "elapsed_s")


class RunLogger:
    def __init__(self, out: str | Path, *, rank: int = 0, total_steps: int, start_step: int = 0,
                 tensorboard: bool = True, progress: bool = True, desc: str = "train"):
        self.enabled = rank == 0
        self.out = Path(out)
        self.total_steps = total_steps
        self._tb = None
        self._bar = None
        self._t0 = time.perf_counter()
        if not self.enabled:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        self._train_csv = self._open_csv("train.csv", TRAIN_COLUMNS)
        self._eval_csv = self._open_csv("eval.csv", ("step", "split", "metric", "value"))
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(self.out / "tb"), purge_step=start_step or None)
            except ImportError:  # pragma: no cover - tensorboard is a dependency
                print("tensorboard is not installed: logging to CSV only", file=sys.stderr)
        if progress:
            from tqdm.auto import tqdm

            # tqdm's own ETA counts only this run's steps, so a resumed run gets an honest one
            self._bar = tqdm(total=total_steps, initial=start_step, desc=desc, unit="step",
                             dynamic_ncols=True, mininterval=1.0, file=sys.stderr)

    def _open_csv(self, name: str, columns: tuple[str, ...]):
        path = self.out / name
        new = not path.exists() or path.stat().st_size == 0
        f = path.open("a", newline="")
        w = csv.writer(f)
        if new:
            w.writerow(columns)
            f.flush()
        return f, w

    def step(self, step: int, loss: float, lr: float, *, tokens_per_s: float, samples_per_s: float,
             grad_norm: float | None = None, write: bool = True) -> None:
        """Called every step: advances the bar; `write` also records a CSV/tensorboard row."""
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(step - self._bar.n)
            self._bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}", tok_s=_si(tokens_per_s),
                                  refresh=False)
        if not write:
            return
        elapsed = time.perf_counter() - self._t0
        gn = "" if grad_norm is None or not math.isfinite(grad_norm) else f"{grad_norm:.6g}"
        f, w = self._train_csv
        w.writerow([step, repr(float(loss)), f"{lr:.6g}", gn, f"{tokens_per_s:.1f}",
                    f"{samples_per_s:.2f}", f"{elapsed:.1f}"])
        f.flush()
        if self._tb is not None:
            self._tb.add_scalar("train/loss", loss, step)
            self._tb.add_scalar("train/lr", lr, step)
            self._tb.add_scalar("train/tokens_per_s", tokens_per_s, step)
            if gn:
                self._tb.add_scalar("train/grad_norm", grad_norm, step)

    def eval(self, step: int, split: str, metrics: Mapping[str, Any]) -> None:
        if not self.enabled:
            return
        f, w = self._eval_csv
        for k, v in metrics.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                w.writerow([step, split, k, f"{v:.6g}"])
                if self._tb is not None:
                    self._tb.add_scalar(f"{split}/{k}", v, step)
        f.flush()
        self.print(f"step {step} {split}: " + json.dumps(
            {k: (round(v, 4) if isinstance(v, float) else v) for k, v in metrics.items()
             if isinstance(v, (int, float, str))}))

    def print(self, msg: str) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.write(msg, file=sys.stderr)
        else:
            print(msg, file=sys.stderr, flush=True)

    def close(self) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        for f, _ in (self._train_csv, self._eval_csv):
            f.close()


def _si(x: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= scale:
            return f"{x / scale:.1f}{unit}"
    return f"{x:.0f}"
