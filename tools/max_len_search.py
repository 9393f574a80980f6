"""``tools/bench_train.py --max-len-search``: the longest sequence a model trains at on one GPU.

Each length runs as its own ``bench_train.py`` process (micro-batch 1, activation checkpointing,
a few steps) so an out-of-memory leaves no CUDA state behind: lengths double from ``--seq-len``
until one fails (OOM / timeout / killed), then bisect on a ``--bisect-grid`` token grid. Pixel
models grow the image side instead (N = channels x side^2, 8-pixel grid)."""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import bench_train
from bench_rows import is_oom


def _trial(args: argparse.Namespace, seq_len: int, timeout: float) -> dict[str, Any]:
    """One length in a fresh process (a clean CUDA context after every OOM)."""
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "row.json"
        cmd = [sys.executable, str(Path(bench_train.__file__).resolve()), "--model", args.model,
               "--seq-len", str(seq_len), "--micro-batch", "1", "--grad-ckpt", "--steps", str(args.trial_steps),
               "--warmup", "0", "--zero", str(args.zero), "--attention", args.attention, "--out", str(out),
               "--skip-flops", "--tag", "max-len-trial"]
        cmd += ["--offload"] if args.offload else []
        cmd += [] if args.bf16 is None else ["--bf16" if args.bf16 else "--no-bf16"]
        cmd += ["--attn-backend", args.attn_backend] if args.attn_backend else []
        env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT",
                                                                "LOCAL_WORLD_SIZE", "CROSS_RANK", "CROSS_SIZE")}
        t0 = time.perf_counter()
        try:
            p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=max(1.0, timeout),
                               cwd=bench_train.ROOT)
        except subprocess.TimeoutExpired:
            return {"seq_len": seq_len, "status": "timeout", "wall_s": round(time.perf_counter() - t0, 1)}
        wall = round(time.perf_counter() - t0, 1)
        rows = json.loads(out.read_text()) if out.is_file() else []
    if not rows:  # killed (SIGKILL: most likely the host ran out of memory) or crashed outside Python
        tail = (p.stderr or p.stdout or "")[-600:]
        status = "oom" if is_oom(tail) else "killed" if p.returncode in (-9, 137) else "crash"
        return {"seq_len": seq_len, "status": status, "returncode": p.returncode, "wall_s": wall, "error": tail}
    r = rows[-1]
    status = "ok" if not r.get("error") else ("oom" if r.get("oom") or is_oom(r["error"]) else "error")
    t = {"seq_len": r.get("seq_len", seq_len), "status": status, "wall_s": wall, "step_ms": r.get("step_ms"),
         "mem_peak_gib": r.get("mem_peak_gib")}
    if r.get("seq_len_note"):
        t.update(status="error", error=r["seq_len_note"])
    if r.get("error"):
        t["error"] = r["error"][:400]
    return t


def max_len_search(args: argparse.Namespace) -> dict[str, Any]:
    row = bench_train.base_row(args)
    row.update(kind="max_len_search", micro_batch=1, grad_ckpt=True, steps=args.trial_steps, warmup=0,
               world_size=1, max_seq_len=None)
    name = bench_train.resolve_name(args.model)
    args.model = name
    knob, _, start, note = bench_train.length_plan(name, args.seq_len)
    row.update(model=name, length_knob=knob, seq_len=start)
    if note:
        row["seq_len_note"] = note
    if knob == bench_train.FIXED_LENGTH:
        row["max_len_status"] = "length fixed by the model's image/text geometry: nothing to search"
        return row
    from zoo.registry import create_model

    with torch.device("meta"):
        channels = getattr(create_model(name).config, "channels", 3)
    # the search runs over a knob: tokens (grid --bisect-grid) or the image side (grid 8 px)
    if knob == "image_size":
        x0 = round(math.sqrt(start / channels))
        length, grid = (lambda s: channels * s * s), 8
        grow = lambda s: int(math.ceil(s * math.sqrt(2) / 8) * 8)  # noqa: E731
    else:
        x0, length, grid, grow = start, (lambda x: x), args.bisect_grid, (lambda x: 2 * x)
    deadline = time.perf_counter() + args.search_budget
    trials: list[dict[str, Any]] = []
    row["trials"] = trials

    def attempt(x: int) -> bool | None:
        left = deadline - time.perf_counter()
        if left < 10:
            return None
        t = _trial(args, length(x), min(args.trial_timeout, left))
        trials.append(t)
        print(f"[max-len] {name} N={length(x)}: {t['status']} ({t['wall_s']} s"
              + (f", {t['mem_peak_gib']:.1f} GiB" if t.get("mem_peak_gib") else "") + ")", flush=True)
        if t["status"] == "ok":
            best = row.get("max_seq_len") or 0
            if length(x) > best:
                row.update(max_seq_len=length(x), step_ms=t.get("step_ms"), mem_peak_gib=t.get("mem_peak_gib"))
            return True
        if t["status"] in ("error", "crash"):  # not a length limit: stop rather than bisect on it
            raise RuntimeError(f"N={length(x)}: {t['status']}: {t.get('error', '')}")
        return False

    ok_x, bad_x, status = None, None, None
    try:
        x = x0
        while length(x) <= args.max_len_cap:
            res = attempt(x)
            if res is None:
                status = "search budget spent"
                break
            if not res:
                bad_x = x
                break
            ok_x, x = x, grow(x)
        else:
            status = f"next length {length(x)} is over --max-len-cap {args.max_len_cap}"
        if ok_x is not None and bad_x is not None and args.bisect:
            lo, hi = ok_x, bad_x
            while hi - lo > grid:
                mid = (lo + hi) // 2 // grid * grid
                if not lo < mid < hi:
                    break
                res = attempt(mid)
                if res is None:
                    status = "search budget spent while bisecting"
                    break
                lo, hi = (mid, hi) if res else (lo, mid)
            bad_x = hi
        if bad_x is not None:
            why = next((t["status"] for t in trials if t["seq_len"] == length(bad_x)), "fail")
            row["first_failing_seq_len"] = length(bad_x)
            status = status or f"{why} at {length(bad_x)}"
        if ok_x is None and bad_x is not None:
            row["error"] = f"the starting length {length(x0)} did not train ({status})"
    except RuntimeError as e:
        row["error"] = f"max-len search stopped: {e}"
    row["max_len_status"] = status
    if knob == "image_size" and row.get("max_seq_len"):
        row["max_image_size"] = round(math.sqrt(row["max_seq_len"] / channels))
    return row
