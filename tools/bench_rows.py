"""The rows every training benchmark writes: appended to a JSON list file (never overwriting what
is there), printed as a table, and the out-of-memory test that tells a too-long run from a crash
(tools/bench_train.py, tools/max_len_search.py)."""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

OOM_MARKERS = ("out of memory", "cublas_status_alloc_failed", "cudaerrormemoryallocation")


def is_oom(e: BaseException | str) -> bool:
    oom = getattr(torch.cuda, "OutOfMemoryError", ())
    return isinstance(e, oom) or any(m in str(e).lower() for m in OOM_MARKERS)


def append_rows(path: str | Path, rows: list[dict[str, Any]]) -> None:
    """Add rows to a JSON list file, keeping the rows already there (a JSON-lines file too)."""
    path = Path(path)
    old: list[Any] = []
    if path.is_file() and path.stat().st_size:
        text = path.read_text()
        try:
            data = json.loads(text)
            old = data if isinstance(data, list) else data.get("rows", [data]) if isinstance(data, dict) else [data]
        except json.JSONDecodeError:
            try:
                old = [json.loads(line) for line in text.splitlines() if line.strip()]
            except json.JSONDecodeError:
                keep = path.with_name(path.name + f".unreadable-{int(time.time())}")
                path.rename(keep)
                print(f"{path} is not JSON; moved it to {keep}", file=sys.stderr)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(old + rows, indent=1, default=str) + "\n")
    os.replace(tmp, path)


COLUMNS = [("model", "model", "{}"), ("attention", "attn", "{}"), ("seq_len", "N", "{}"), ("micro_batch", "mb", "{}"),
           ("world_size", "gpus", "{}"), ("zero", "zero", "{}"), ("grad_ckpt", "ckpt", "{}"), ("dtype", "dtype", "{}"),
           ("step_ms", "step_ms", "{:.1f}"), ("tokens_per_s", "tok/s", "{:,.0f}"),
           ("model_tflops_per_gpu", "TFLOP/s", "{:.1f}"), ("dense_equiv_tflops_per_gpu", "dense-eq", "{:.1f}"),
           ("mfu", "mfu", "{:.3f}"), ("mem_peak_gib", "GiB", "{:.1f}"), ("max_seq_len", "max_len", "{}"),
           ("error", "error", "{}")]


def print_table(rows: list[dict[str, Any]], file=sys.stdout) -> None:
    cols = [c for c in COLUMNS if any(r.get(c[0]) is not None for r in rows)]

    def cell(r, key, fmt):
        v = r.get(key)
        if v is None:
            return "-"
        try:
            s = fmt.format(v)
        except (ValueError, TypeError):
            s = str(v)
        return s if key != "error" else s[:60]
    table = [[h for _, h, _ in cols]] + [[cell(r, k, f) for k, _, f in cols] for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(cols))]
    for j, line in enumerate(table):
        print("  ".join(x.ljust(w) for x, w in zip(line, widths)), file=file)
        if j == 0:
            print("  ".join("-" * w for w in widths), file=file)
    file.flush()
