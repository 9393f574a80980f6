"""Evaluation reports: ``eval.json`` (machine-readable) + ``eval.md`` (a table) + the console.

A score is only comparable with the settings that produced it (decoding, split, sample count,
code version), so every report records them next to the numbers (DESIGN.md, "Evaluation").
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def git_commit(path: str | Path | None = None, short: bool = False) -> str:
    """HEAD of the repository holding ``path`` (default: this package), '+dirty' if modified.
    ``ZOO_CODE_COMMIT`` wins: a copy of the tree whose git metadata is stale (the GPU machine's
    working copy) is told the commit it runs that way."""
    if os.environ.get("ZOO_CODE_COMMIT"):
        return os.environ["ZOO_CODE_COMMIT"]
    cwd = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", *(["--short"] if short else []), "HEAD"], cwd=cwd,
                              capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=cwd, capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def make_record(
    scores: Mapping[str, Any],
    *,
    task: str,
    model: str,
    dataset: str | None,
    split: str | None,
    n_samples: int,
    decoding: Mapping[str, Any] | None = None,
    notes: list[str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict:
    """The JSON document of one evaluation."""
    from zoo import __version__

    return {
        "task": task,
        "model": model,
        "dataset": dataset,
        "split": split,
        "n_samples": int(n_samples),
        "decoding": dict(decoding) if decoding else None,
        "scores": _jsonable(scores),
        "notes": list(notes or []),
        "git_commit": git_commit(),
        "zoo_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **({"extra": _jsonable(extra)} if extra else {}),
    }


def _jsonable(obj: Any) -> Any:
    """Plain JSON types (numpy / torch scalars -> float, NaN -> None, keys -> str)."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, bool) or obj is None or isinstance(obj, (str, int)):
        return obj
    if hasattr(obj, "item"):
        obj = obj.item()
    if isinstance(obj, float):
        return None if math.isnan(obj) else obj
    return obj if isinstance(obj, (int, str)) else str(obj)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    return "—" if v is None else str(v)


def _split_scores(scores: Mapping[str, Any]):
    """Scalars for the main table; dicts of scalars as breakdown tables; matrices apart."""
    scalars, tables, matrices = {}, {}, {}
    for k, v in scores.items():
        if isinstance(v, Mapping):
            tables[k] = v
        elif isinstance(v, list) and v and isinstance(v[0], list):
            matrices[k] = v
        elif not isinstance(v, list):
            scalars[k] = v
    return scalars, tables, matrices


def _meta_rows(rec: Mapping[str, Any]) -> list[tuple[str, str]]:
    dec = rec.get("decoding")
    dec_s = ", ".join(f"{k}={v}" for k, v in dec.items()) if dec else "—"
    return [("model", rec["model"]), ("task", rec["task"]), ("dataset", _fmt(rec["dataset"])),
            ("split", _fmt(rec["split"])), ("samples", str(rec["n_samples"])),
            ("decoding", dec_s), ("git commit", rec["git_commit"]), ("created", rec["created"])]


def to_markdown(rec: Mapping[str, Any]) -> str:
    """eval.md: settings, the score table, then breakdowns and matrices."""
    scalars, tables, matrices = _split_scores(rec["scores"])
    lines = [f"# Evaluation: {rec['model']} — {rec['task']}", "", "| setting | value |",
             "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in _meta_rows(rec)]
    lines += ["", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in scalars.items()]
    for name, table in tables.items():
        if not table:
            continue
        lines += ["", f"## {name}", "", "| key | value |", "|---|---|"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in table.items()]
    for name, m in matrices.items():
        k = len(m[0])
        lines += ["", f"## {name} (rows: true, columns: predicted)", "",
                  "| | " + " | ".join(str(j) for j in range(k)) + " |",
                  "|---" * (k + 1) + "|"]
        lines += [f"| **{i}** | " + " | ".join(str(x) for x in row) + " |"
                  for i, row in enumerate(m)]
    if rec.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {n}" for n in rec["notes"]]
    return "\n".join(lines) + "\n"


def write_report(rec: Mapping[str, Any], out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``eval.json`` and ``eval.md`` into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jp, mp = out / "eval.json", out / "eval.md"
    jp.write_text(json.dumps(rec, indent=2, allow_nan=False) + "\n")
    mp.write_text(to_markdown(rec))
    return jp, mp


def print_report(rec: Mapping[str, Any], console=None, max_rows: int = 12) -> None:
    """The score table on the console (rich), then the settings on one line."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    scalars, tables, _ = _split_scores(rec["scores"])
    t = Table(title=f"{rec['model']} — {rec['task']}")
    t.add_column("metric")
    t.add_column("value", justify="right")
    for k, v in scalars.items():
        t.add_row(k, _fmt(v))
    for name, table in tables.items():
        items = list(table.items())
        for k, v in items[:max_rows]:
            t.add_row(f"{name}/{k}", _fmt(v), style="dim")
        if len(items) > max_rows:  # VQA v2 has 65 question types: the rest are in eval.md
            t.add_row(f"{name}/…", f"{len(items) - max_rows} more in eval.md", style="dim")
    console.print(t)
    console.print(" · ".join(f"{k}: {v}" for k, v in _meta_rows(rec)[2:7]), style="dim")
    for n in rec.get("notes") or []:
        console.print(f"[yellow]note:[/] {n}")
