"""GPU attention time of each distillation arm (issue #7's "measured time on the GPU"): the dense
teacher's pattern, the student's own sparse pattern and the learned layout, at each task's length.

    PYTHONPATH=$PWD python3 tools/distill_gpu_time.py --out benchmarks/distillation_gpu

Per task it trains the recipe's dense teacher on the device (the CPU report's step count), learns
the per-layer layouts from its attention exactly as ``zoo distill`` does (budget matched to the
student's pairs), then times attention forward and forward+backward summed over the layers, on
random bf16 inputs of B = --tokens / N sequences, through the dispatcher (``flex``: what a model
runs on a GPU) and through masked SDPA (``dense``: the oracle, also the exact short-sequence
path). Each flex output is checked against the dense one. Quality lives in distillation.md.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from bench_attention import fwd_bwd, rel_err  # noqa: E402
from bench_attention import timeit as bench_timeit  # noqa: E402
from distill_report import RECIPES  # noqa: E402

from zoo import distill as D  # noqa: E402
from zoo import distill_layout as DL  # noqa: E402
from zoo.attention import sparse_attention  # noqa: E402
from zoo.attention.flops import count_pairs  # noqa: E402


def timeit(fn, device: torch.device) -> float:
    """Median milliseconds of fn: bench_attention's do_bench on a GPU, a wall clock elsewhere."""
    if device.type == "cuda":
        return bench_timeit(fn, warmup=5, rep=30)
    fn()
    t0 = time.perf_counter()
    for _ in range(3):
        fn()
    return (time.perf_counter() - t0) / 3 * 1e3


def arm_patterns(recipe: D.DistillRecipe, data: D.Data, device: torch.device, runs: Path):
    """(n, heads, head_dim, {arm: [pattern per layer]}, layout info) for one task: the teacher,
    the student and the learned-layout student as ``zoo distill`` builds them."""
    teacher, _ = D.build_teacher(dataclasses.replace(recipe, out=str(runs / "teacher")), data, device)

    def student(layout: bool):
        r = dataclasses.replace(recipe, layout=dataclasses.replace(recipe.layout, enabled=layout))
        return D.build_student(r, teacher, data, device)

    plain, (learned, _, info) = student(False)[0], student(True)
    arms = {name: [m.pattern for m in DL.attention_modules(model)]
            for name, model in (("teacher", teacher), ("student", plain), ("learned", learned))}
    mods = DL.attention_modules(teacher)
    return D._seq_len(teacher, data.batch(0, 1)), mods[0].num_heads, mods[0].head_dim, arms, info["layout"]


def time_arm(patterns: list, n: int, heads: int, head_dim: int, batch: int, backends: list[str],
             device: torch.device, dtype: torch.dtype) -> dict[str, dict]:
    """Per backend: fwd / fwd+bwd milliseconds summed over the layers, and the max relative error
    of each layer's output against the dense backend."""
    out: dict[str, dict] = {b: {"fwd_ms": 0.0, "fwdbwd_ms": 0.0, "max_rel_err": 0.0} for b in backends}
    g = torch.Generator(device="cpu").manual_seed(0)
    for p in patterns:
        q, k, v, do = (torch.randn(batch, heads, n, head_dim, generator=g).to(device, dtype) for _ in range(4))
        for t in (q, k, v):
            t.requires_grad_(True)
        ref = sparse_attention(q, k, v, p, backend="dense")
        for b in backends:
            def fwd(b=b):
                return sparse_attention(q, k, v, p, backend=b)
            with torch.no_grad():
                out[b]["max_rel_err"] = max(out[b]["max_rel_err"], rel_err(fwd(), ref))
            out[b]["fwd_ms"] += timeit(fwd, device)
            out[b]["fwdbwd_ms"] += timeit(fwd_bwd(fwd, (q, k, v), do), device)
    return out


def run_task(task: str, args: argparse.Namespace) -> dict:
    recipe = D.load_recipe(RECIPES[task])
    recipe = dataclasses.replace(recipe, device=args.device)
    if args.teacher_steps:
        recipe.teacher.steps = args.teacher_steps
    device = D._device(recipe.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    t0 = time.time()
    n, heads, head_dim, arms, info = arm_patterns(recipe, D.Data(recipe.data, recipe.seed), device,
                                                  Path(args.runs) / task)
    batch = max(1, args.tokens // n)
    rows = []
    for arm, patterns in arms.items():
        pairs = sum(count_pairs(p, n, heads) for p in patterns)
        for backend, r in time_arm(patterns, n, heads, head_dim, batch, args.backend, device, dtype).items():
            useful = 4 * head_dim * pairs * batch  # forward FLOPs on allowed pairs, all layers
            rows.append({"task": task, "arm": arm, "pattern": sorted({p.name for p in patterns}),
                         "backend": backend, "N": n, "B": batch, "H": heads, "D": head_dim,
                         "layers": len(patterns), "pairs_per_seq": pairs, **r,
                         "useful_tflops_fwdbwd": 3.5 * useful / r["fwdbwd_ms"] / 1e9})
    return {"recipe": RECIPES[task], "teacher_steps": recipe.teacher.steps, "seq_len": n, "layout": info,
            "seconds": round(time.time() - t0, 1), "rows": rows}


def markdown(doc: dict) -> str:
    lines = ["# Distillation arms: attention time on the GPU", "",
             f"Command: `{doc['command']}`", "",
             f"Date {doc['date']}; {doc['device']}; torch {doc['torch']}. Forward+backward of every attention "
             "layer on random inputs (B x N = tokens below), summed over the layers; `flex` is the dispatcher "
             "(what a model runs on a GPU), `dense` masked SDPA. Quality per arm: distillation.md.", ""]
    for task, t in doc["tasks"].items():
        r0 = t["rows"][0]
        lines += [f"## {task}: N = {t['seq_len']}, B = {r0['B']}, {r0['H']} heads of {r0['D']}, "
                  f"{r0['layers']} layers (teacher trained {t['teacher_steps']} steps; layout budget "
                  f"{t['layout'].get('budget')}, teacher mass covered "
                  f"{t['layout'].get('teacher_mass_covered', 0):.3f})",
                  "", "| arm | pattern | backend | pairs/seq | fwd ms | fwd+bwd ms | useful TFLOP/s fwd+bwd | "
                  "max rel err vs dense |", "|---|---|---|---|---|---|---|---|"]
        for r in t["rows"]:
            lines.append(f"| {r['arm']} | {', '.join(r['pattern'])} | {r['backend']} | {r['pairs_per_seq']:,} | "
                         f"{r['fwd_ms']:.3f} | {r['fwdbwd_ms']:.3f} | {r['useful_tflops_fwdbwd']:.1f} | "
                         f"{r['max_rel_err']:.2e} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--task", choices=sorted(RECIPES), action="append", default=[])
    p.add_argument("--teacher-steps", type=int, help="override the recipe's teacher.steps")
    p.add_argument("--tokens", type=int, default=65536, help="B x N per timed call (default 65,536)")
    p.add_argument("--backend", action="append", choices=["flex", "dense"], default=[])
    p.add_argument("--device", default="auto", help="cuda | cpu | auto")
    p.add_argument("--out", default="benchmarks/distillation_gpu")
    p.add_argument("--runs", default="runs/distill_gpu_time")
    args = p.parse_args(argv)
    args.backend = args.backend or ["flex", "dense"]
    if args.tokens < 1:
        p.error(f"--tokens must be >= 1, got {args.tokens}")
    dev = D._device(args.device)
    doc = {"command": "PYTHONPATH=$PWD python3 tools/distill_gpu_time.py " + " ".join(argv or sys.argv[1:]),
           "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "device": torch.cuda.get_device_name() if dev.type == "cuda" else "CPU", "torch": torch.__version__,
           "tasks": {}}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for task in args.task or sorted(RECIPES):
        doc["tasks"][task] = run_task(task, args)
        # written after every task, so a job cut by its clock keeps the tasks it finished
        out.with_suffix(".json").write_text(json.dumps(doc, indent=1, default=str) + "\n")
        out.with_suffix(".md").write_text(markdown(doc) + "\n")
        print(markdown(doc), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
