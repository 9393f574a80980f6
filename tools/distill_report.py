"""Distillation report (the survey's proposal 4.2): dense teacher vs sparse student from scratch,
distilled students and students with a learned layout, same data, same step budget, same seed.
Writes benchmarks/distillation.{json,md}; a second run with another --task merges into them.

    PYTHONPATH=$PWD python3 tools/distill_report.py --task lm
    PYTHONPATH=$PWD python3 tools/distill_report.py --task pixel --steps 150
    PYTHONPATH=$PWD python3 tools/distill_report.py --task lm --seed 1 --seed 2   # more seeds: a spread table

Arms (the recipe sets teacher, student, data, schedule, alpha/T/beta, layout block/coverage):
  teacher          dense, task loss only (trained first; every student reads it)
  scratch          the student's own sparse pattern, task loss only
  kd_logits        + alpha * T^2 * KL on the logits
  kd_logits_attn   + beta * attention-map KL on the student's allowed keys
  learned_scratch  learned layout from the teacher's attention, budget matched to the student's
                   own pattern's pairs; task loss only
  learned_kd       learned layout + logit and attention-map distillation
  init_teacher     the student starts from the teacher's weights (same architecture, its own
                   sparse pattern), task loss only
  init_teacher_kd  the same + logit and attention-map distillation
  teacher_continued  the control for the two above: the dense teacher trained on for the
                   students' steps (same total steps, dense attention)
  --kd-grid        extra kd_logits arms at other alpha / T (kd_logits_a0.1_T4, ...)
Quality: exact bits/dim or bits/char on held-out data. Cost: allowed pairs (count_pairs) and
useful forward FLOPs per sequence. GPU time: tools/distill_gpu_time.py (distillation_gpu.md).
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from zoo import distill as D  # noqa: E402

RECIPES = {"lm": "recipes/distill/lm_tiny_bigbird.yaml", "pixel": "recipes/distill/pixel_tiny_strided.yaml",
           "pixel32": "recipes/distill/pixel_tiny_strided_32.yaml"}  # pixel32: a GPU job
ARMS = {
    "scratch": dict(alpha=0.0, beta=0.0, layout=False),
    "kd_logits": dict(beta=0.0, layout=False),
    "kd_logits_attn": dict(layout=False),
    "learned_scratch": dict(alpha=0.0, beta=0.0, layout=True),
    "learned_kd": dict(layout=True),
    "init_teacher": dict(alpha=0.0, beta=0.0, layout=False, init="teacher"),
    "init_teacher_kd": dict(layout=False, init="teacher"),
    "teacher_continued": dict(alpha=0.0, beta=0.0, layout=False, init="teacher", dense=True),
}


def kd_grid_arms(grid: str) -> dict[str, dict]:
    """"ALPHA:T,..." -> logit-distillation arms at those weights and temperatures (no attention KD),
    e.g. "0.1:1,0.25:4" -> kd_logits_a0.1_T1, kd_logits_a0.25_T4."""
    arms = {}
    for item in filter(None, grid.split(",")):
        try:
            alpha, temperature = (float(x) for x in item.split(":"))
        except ValueError:
            raise SystemExit(f"--kd-grid: {item!r} is not ALPHA:T (e.g. 0.1:4)") from None
        if alpha <= 0 or temperature <= 0:
            raise SystemExit(f"--kd-grid: alpha and T must be > 0, got {item!r}")
        arms[f"kd_logits_a{alpha:g}_T{temperature:g}"] = dict(alpha=alpha, temperature=temperature, beta=0.0,
                                                               layout=False)
    return arms


def variant(recipe: D.DistillRecipe, name: str, spec: dict, runs: Path) -> D.DistillRecipe:
    loss = dataclasses.replace(recipe.loss, **{k: v for k, v in spec.items() if k in ("alpha", "beta", "temperature")})
    layout = dataclasses.replace(recipe.layout, enabled=spec["layout"])
    student = dataclasses.replace(recipe.student, init=spec.get("init", recipe.student.init))
    if spec.get("dense"):  # the control: the teacher itself trained on with the students' schedule
        student = dataclasses.replace(student, name=recipe.teacher.name, overrides=dict(recipe.teacher.overrides))
    return dataclasses.replace(recipe, loss=loss, layout=layout, student=student, out=str(runs / name))


def run_task(task: str, steps: int | None, arms: dict[str, dict], runs: Path, teacher_steps: int | None = None,
             key: str | None = None, seed: int | None = None) -> dict:
    recipe = D.load_recipe(RECIPES[task])
    if seed is not None:  # data order, teacher and student initialisation
        recipe = dataclasses.replace(recipe, seed=seed)
    if steps:
        recipe.schedule.steps = steps
    if teacher_steps:
        recipe.teacher.steps = teacher_steps
    torch.set_num_threads(recipe.threads or torch.get_num_threads())
    runs = runs / (key or task)
    data = D.Data(recipe.data, recipe.seed)
    device = D._device(recipe.device)
    t_recipe = dataclasses.replace(recipe, out=str(runs / "teacher"))
    teacher, t_info = D.build_teacher(t_recipe, data, device)
    n = D._seq_len(teacher, data.batch(0, 1))
    t_eval = {**D.evaluate(teacher, data, recipe.schedule.batch_size, device), **D.attention_cost(teacher, n)}
    rows = [{"arm": "teacher", "pattern": recipe.teacher.name, **t_eval,
             "train_seconds": t_info.get("train_seconds"), "final_train_loss": t_info["log"][-1]["task"]}]
    for arm, spec in arms.items():
        arm_recipe = variant(recipe, arm, spec, runs)
        r = D.run_distill(arm_recipe, teacher=teacher, data=data, teacher_info=t_info, teacher_eval=t_eval)
        s = r["student"]
        rows.append({"arm": arm, "pattern": arm_recipe.student.name if "layout" not in s else "learned",
                     **{k: v for k, v in s.items() if k not in ("log", "init")},
                     "final_train_loss": s["log"][-1]["task"]})
    metric = "bits_per_dim" if recipe.data.dataset == "easyvqa" else "bits_per_char"
    return {"recipe": RECIPES[task], "resolved": dataclasses.asdict(recipe), "metric": metric, "seq_len": n,
            "teacher_steps": recipe.teacher.steps or recipe.schedule.steps, "rows": rows}


# the data fields each dataset reads (DataSpec holds both kinds' defaults)
_DATA_FIELDS = {"text": ("dataset", "source", "seq_len", "heldout_fraction"),
                "easyvqa": ("dataset", "image_size", "train_images", "heldout_images")}


def _data_fields(data: dict) -> dict:
    keep = _DATA_FIELDS.get(data.get("dataset"))
    return data if keep is None else {k: data[k] for k in keep if k in data}


def _family(t: dict) -> tuple:
    """Runs that differ only by seed: same recipe, student schedule and teacher length (the loss
    weights go with each arm: ``_arm_label``)."""
    r = t["resolved"]
    return (t["recipe"], json.dumps(r["schedule"], sort_keys=True),
            t.get("teacher_steps") or r["teacher"].get("steps") or r["schedule"]["steps"])


def _arm_label(arm: str, loss: dict | None) -> str:
    """An arm's row across seeds: its name, plus the recipe's weights where the name does not fix
    them, so runs made under other recipe defaults (T = 2 before session 6) stay apart."""
    spec = ARMS.get(arm)
    if spec is None or not loss or (spec.get("alpha") == 0 and spec.get("beta") == 0):
        return arm  # teacher, students without distillation, --kd-grid arms (named by alpha and T)
    beta = "" if spec.get("beta") == 0 else f", beta {loss['beta']:g}"
    return f"{arm} (alpha {loss['alpha']:g}, T {loss['temperature']:g}{beta})"


def _scratch(report: dict, t: dict) -> float | None:
    """The held-out metric of the same student trained from scratch with the same seed; it does
    not depend on the teacher, so another run's (e.g. a longer teacher's) serves too."""
    same = [x[t["metric"]] for u in report["tasks"].values() if _family(u)[:2] == _family(t)[:2]
            and u["resolved"]["seed"] == t["resolved"]["seed"] for x in u["rows"] if x["arm"] == "scratch"]
    return same[0] if same else None


def seed_deltas(report: dict) -> dict[tuple, dict[str, dict[int, float]]]:
    """family -> arm -> seed -> held-out metric minus the same seed's scratch student."""
    out: dict = {}
    for t in report["tasks"].values():
        m, seed, base = t["metric"], t["resolved"]["seed"], _scratch(report, t)
        for x in t["rows"]:
            if base is not None and x["arm"] != "scratch":
                arm = _arm_label(x["arm"], t["resolved"].get("loss"))
                out.setdefault(_family(t), {}).setdefault(arm, {})[seed] = x[m] - base
    return out


def seeds_markdown(report: dict) -> list[str]:
    """Per family run with several seeds: each arm's difference to scratch per seed, and its mean."""
    lines = []
    for fam, arms in seed_deltas(report).items():
        seeds = sorted({s for d in arms.values() for s in d})
        if len(seeds) < 2:
            continue
        lines += [f"## Across seeds: {fam[0]} (teacher {fam[2] or 'recipe'} steps)", "",
                  "Held-out metric minus the same seed's scratch student (negative = better than scratch).", "",
                  "| arm | " + " | ".join(f"seed {s}" for s in seeds) + " | mean | better than scratch |",
                  "|---|" + "---|" * (len(seeds) + 2)]
        for arm, d in arms.items():
            vals = [d.get(s) for s in seeds]
            got = [v for v in vals if v is not None]
            lines.append(f"| {arm} | " + " | ".join("" if v is None else f"{v:+.4f}" for v in vals)
                         + f" | {sum(got) / len(got):+.4f} | {sum(v < 0 for v in got)} of {len(got)} |")
        lines.append("")
    return lines


def markdown(report: dict) -> str:
    out = ["# Distillation: dense teacher -> sparse student", "",
           f"Commands: {'; '.join(sorted(set(report['commands'])))}", "",
           f"The runs of this report ran on: {report.get('machine', 'the CPU')}. GPU time per arm: "
           "[`distillation_gpu.md`](distillation_gpu.md) (`tools/distill_gpu_time.py`).", ""]
    for task, t in report["tasks"].items():
        r = t["resolved"]
        m = t["metric"]
        out += [f"## {task}: {r['teacher']['name']} "
                f"({t.get('teacher_steps') or r['teacher']['steps'] or r['schedule']['steps']} steps) -> "
                f"{r['student']['name']} "
                f"({r['schedule']['steps']} steps)", "",
                f"Data: {_data_fields(r['data'])}. N = {t['seq_len']} tokens. Schedule: {r['schedule']}. "
                f"Loss: {r['loss']}. Layout: block {r['layout']['block']}, coverage "
                f"{r['layout']['coverage']}, budget {r['layout']['budget']}.", "",
                f"| arm | pattern | held-out {m} | vs scratch | last train batch loss (nats) | attention pairs/seq "
                "| density vs causal dense | fwd attn MFLOP/seq | teacher mass in layout | train s |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        base = _scratch(report, t)
        for x in t["rows"]:
            lay = x.get("layout", {})
            delta = "" if base is None or x["arm"] == "scratch" else f"{x[m] - base:+.4f}"
            mass = f"{lay['teacher_mass_covered']:.3f} (budget {lay['budget']})" if lay else ""
            out.append(f"| {x['arm']} | {x['pattern']} | {x[m]:.4f} | {delta} | {x['final_train_loss']:.4f} | "
                       f"{x['pairs']:,} | {x['density']:.3f} | {x['fwd_flops'] / 1e6:.1f} | {mass} | "
                       f"{x.get('train_seconds')} |")
        out.append("")
    out += seeds_markdown(report)
    out += ["## Conclusions", "", report.get("conclusions", "(to be written from the numbers above)"), ""]
    return "\n".join(out)


def _machine() -> str:
    """Where the runs ran: the GPU when the recipes' device "auto" picked one, else the CPU."""
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()}, torch {torch.__version__}"
    return (f"CPU ({platform.processor() or platform.machine()}), torch {torch.__version__}, "
            f"threads {torch.get_num_threads()}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--task", choices=sorted(RECIPES), action="append", default=[])
    p.add_argument("--steps", type=int, help="override schedule.steps (teacher and students)")
    p.add_argument("--teacher-steps", type=int, help="train the teacher this long (students keep --steps)")
    p.add_argument("--arms", default=",".join(ARMS), help=f"comma list from {list(ARMS)}")
    p.add_argument("--seed", type=int, action="append", help="recipe seed (repeatable; default: the recipe's)")
    p.add_argument("--kd-grid", default="", help="extra logit-KD arms ALPHA:T,... (e.g. 0.1:1,0.1:4)")
    p.add_argument("--tag", default="", help="suffix of this run's report keys, so its runs do not replace "
                   "others of the same task, teacher and seed")
    p.add_argument("--out", default="benchmarks/distillation")
    p.add_argument("--runs", default="runs/distill_report")
    p.add_argument("--conclusions", help="a markdown file of conclusions to store and render (no runs needed)")
    args = p.parse_args(argv)
    if not args.task and not args.conclusions:
        p.error("give --task (run) and/or --conclusions (re-render)")
    unknown = [a for a in args.arms.split(",") if a and a not in ARMS]
    if unknown:
        p.error(f"--arms: unknown {unknown}; choose from {list(ARMS)}")
    arms = {a: ARMS[a] for a in args.arms.split(",") if a}
    arms.update(kd_grid_arms(args.kd_grid))
    out = Path(args.out)
    report = json.loads(out.with_suffix(".json").read_text()) if out.with_suffix(".json").exists() else {
        "tasks": {}, "commands": []}
    for task in args.task:
        for seed in args.seed or [None]:
            t0 = time.time()
            key = task + (f"_teacher{args.teacher_steps}" if args.teacher_steps else "") + (
                f"_seed{seed}" if seed is not None else "") + ("_kdgrid" if args.kd_grid else "") + (
                f"_{args.tag}" if args.tag else "")
            report["tasks"][key] = run_task(task, args.steps, arms, Path(args.runs), args.teacher_steps, key, seed)
            report["tasks"][key]["wall_seconds"] = round(time.time() - t0, 1)
    if args.conclusions:
        report["conclusions"] = Path(args.conclusions).read_text().strip()
    if args.task:
        report["commands"].append("PYTHONPATH=$PWD python3 tools/distill_report.py " + " ".join(
            shlex.quote(a) if a else '""' for a in (argv or sys.argv[1:])))  # --arms "" stays visible
        report.update(date=datetime.date.today().isoformat(), machine=_machine())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1, default=str))
    out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
