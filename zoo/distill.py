"""Knowledge distillation: a dense teacher -> a sparse student of the same family (the survey's
proposal 4.2). ``zoo distill RECIPE``.

Loss = task * task_loss + alpha * T^2 * KL(p_teacher^T || p_student^T) on the logits (Hinton et
al. 2015, "Distilling the Knowledge in a Neural Network"; forward KL, the teacher is the target)
+ beta * attention-map KL on the student's allowed keys (zoo.distill_layout). Optionally the
student's pattern is a *learned* block layout read off the teacher's attention on a calibration
set. Same family: teacher and student share sizes and head count, so heads are matched 1:1.

This module trains with a plain torch loop (AdamW, warmup + cosine, one process) on small
in-memory data: easy-VQA images downsampled (pixel models) or a byte string (byte LMs). DeepSpeed
launch via zoo.train is future work (the loss functions here are what it would call).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import yaml
from torch import Tensor, nn

from . import distill_layout as DL
from .attention.anchors import routing_aux_loss
from .models.flops import layer_pairs
from .registry import create_model, load_checkpoint, read_checkpoint_metadata, save_checkpoint
from .distill_recipe import DataSpec, DistillRecipe, LayoutSpec, LossSpec, ScheduleSpec, load_recipe  # noqa: F401

LAYOUT_KEY = "distill_layouts"


# --- data ------------------------------------------------------------------------------------------
def text_bytes(source: str) -> bytes:
    """The corpus of a text recipe: a name of one every Python ships (no download; data.text.LOCAL:
    pydoc_topics ~465 KB of English, pystdlib ~30 MB of code), else a file."""
    from .data.text import LOCAL
    name = {"pydoc_topics": "pydoc"}.get(source, source)
    return LOCAL[name]() if name in LOCAL else Path(source).read_bytes()


def easyvqa_images(split: str, limit: int, size: int) -> Tensor:
    """uint8 (n, 3, size, size): the first ``limit`` images (by id) of an easy-VQA split."""
    import numpy as np
    from PIL import Image

    from .data.easyvqa import _easy_vqa
    ev = _easy_vqa()
    paths = (ev.get_train_image_paths if split == "train" else ev.get_test_image_paths)()
    out = []
    for i in sorted(paths)[:limit]:
        with Image.open(paths[i]) as im:
            im = im.convert("RGB").resize((size, size), Image.BOX)
            out.append(torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1))
    return torch.stack(out)


class Data:
    """Deterministic batches: step s of every run sees the same examples (seed, s)."""

    def __init__(self, spec: DataSpec, seed: int):
        self.spec, self.seed = spec, seed
        if spec.dataset == "easyvqa":
            self.train = easyvqa_images("train", spec.train_images, spec.image_size)
            self.heldout = easyvqa_images("test", spec.heldout_images, spec.image_size)
        elif spec.dataset == "text":
            data = torch.frombuffer(bytearray(text_bytes(spec.source)), dtype=torch.uint8).long()
            cut = int(len(data) * (1 - spec.heldout_fraction))
            self.train, self.heldout = data[:cut], data[cut:]
        else:
            raise ValueError(f"data.dataset must be easyvqa or text, got {spec.dataset!r}")

    def batch(self, step: int, batch_size: int, split: str = "train") -> dict[str, Tensor]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + step + (7 if split == "calib" else 0) * 10**9)
        if self.spec.dataset == "easyvqa":
            return {"image": self.train[torch.randint(len(self.train), (batch_size,), generator=g)]}
        n = self.spec.seq_len
        starts = torch.randint(len(self.train) - n - 1, (batch_size,), generator=g)
        win = torch.stack([self.train[s:s + n + 1] for s in starts.tolist()])
        return {"input_ids": win[:, :-1], "labels": win[:, 1:]}

    def heldout_batches(self, batch_size: int, windows: int | None = None):
        """The held-out split in order; text with ``windows``: that many windows spread evenly over
        it instead (a multi-MB split is contiguous files: its start alone would be a few)."""
        if self.spec.dataset == "easyvqa":
            for i in range(0, len(self.heldout), batch_size):
                yield {"image": self.heldout[i:i + batch_size]}
            return
        n = self.spec.seq_len
        if windows is None:
            wins = self.heldout[: (len(self.heldout) - 1) // n * n + 1]
            ids, labels = wins[:-1].view(-1, n), wins[1:].view(-1, n)
        else:
            starts = torch.linspace(0, len(self.heldout) - n - 1, windows).long().tolist()
            wins = torch.stack([self.heldout[s:s + n + 1] for s in starts])  # (windows, n + 1)
            ids, labels = wins[:, :-1], wins[:, 1:]
        for i in range(0, len(ids), batch_size):
            yield {"input_ids": ids[i:i + batch_size], "labels": labels[i:i + batch_size]}


def _to(batch: dict[str, Tensor], device) -> dict[str, Tensor]:
    return {k: v.to(device) for k, v in batch.items()}


@torch.no_grad()
def evaluate(model: nn.Module, data: Data, batch_size: int, device) -> dict[str, float]:
    from .eval.likelihood import evaluate_lm, evaluate_pixels
    batches = (_to(b, device) for b in data.heldout_batches(batch_size))
    if data.spec.dataset == "easyvqa":
        r = evaluate_pixels(model, batches)
        return {"bits_per_dim": r["bits_per_dim"], "dims": r["dims"]}
    r = evaluate_lm(model, batches)
    return {"bits_per_char": r["bits_per_char"], "chars": r["chars"]}


# --- losses ----------------------------------------------------------------------------------------
def logit_kd_loss(student: Tensor, teacher: Tensor, temperature: float = 1.0,
                  mask: Tensor | None = None) -> Tensor:
    """T^2 * KL(softmax(teacher / T) || softmax(student / T)) per position, averaged over
    positions (``mask`` (…) True = counted). Logits (…, V); the teacher gets no gradient."""
    t = F.log_softmax(teacher.detach().float() / temperature, -1)
    s = F.log_softmax(student.float() / temperature, -1)
    kl = (t.exp() * (t - s)).sum(-1)
    if mask is not None:
        kl = (kl * mask).sum() / mask.sum().clamp(min=1)
    else:
        kl = kl.mean()
    return kl * temperature ** 2


def _label_mask(batch: dict[str, Tensor]) -> Tensor | None:
    labels = batch.get("labels")
    return None if labels is None or labels.dim() < 2 else (labels != -100)


def distill_step_loss(student: nn.Module, teacher: nn.Module | None, batch: dict[str, Tensor],
                      loss: LossSpec, rows: Tensor | None = None) -> tuple[Tensor, dict[str, float]]:
    """The combined loss of one batch and its parts (floats, for logging)."""
    parts: dict[str, float] = {}
    need_t = teacher is not None and (loss.alpha > 0 or loss.beta > 0)
    t_taps = s_taps = None
    t_out = None
    if need_t:
        with torch.no_grad():
            if loss.beta > 0:
                with DL.AttentionTap(teacher, rows) as tap:
                    t_out = teacher(**batch)
                t_taps = tap.taps
            else:
                t_out = teacher(**batch)
    if loss.beta > 0 and need_t:
        with DL.AttentionTap(student, rows) as tap:
            out = student(**batch)
        s_taps = tap.taps
    else:
        out = student(**batch)
    total = loss.task * out["loss"]
    parts["task"] = float(out["loss"].detach())
    if need_t and loss.alpha > 0:
        kd = logit_kd_loss(out["logits"], t_out["logits"], loss.temperature, _label_mask(batch))
        total = total + loss.alpha * kd
        parts["kd"] = float(kd.detach())
    if s_taps is not None:
        akd = DL.attention_kd_loss(s_taps, t_taps)
        total = total + loss.beta * akd
        parts["attn_kd"] = float(akd.detach())
    aux = routing_aux_loss(student)
    if torch.is_tensor(aux):
        total = total + aux
    return total, parts


# --- training ----------------------------------------------------------------------------------------
def _optimizer(model: nn.Module, s: ScheduleSpec) -> tuple[torch.optim.Optimizer, Any]:
    no_wd = model.no_weight_decay() if hasattr(model, "no_weight_decay") else set()
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = [{"params": [p for n, p in named if n not in no_wd], "weight_decay": s.weight_decay},
              {"params": [p for n, p in named if n in no_wd], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=s.lr)

    def factor(step: int) -> float:
        if step < s.warmup_steps:
            return (step + 1) / s.warmup_steps
        t = (step - s.warmup_steps) / max(1, s.steps - s.warmup_steps)
        return s.min_lr_ratio + (1 - s.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)


def train(model: nn.Module, data: Data, sched: ScheduleSpec, *, teacher: nn.Module | None = None,
          loss: LossSpec | None = None, steps: int | None = None, device="cpu", seed: int = 0,
          log_every: int = 50, tag: str = "") -> list[dict[str, float]]:
    """Train ``model`` in place; returns the log (one dict per logged step)."""
    loss = loss or LossSpec()
    steps = sched.steps if steps is None else steps
    sched = dataclasses.replace(sched, steps=steps)
    opt, lr_sched = _optimizer(model, sched)
    if teacher is not None:
        teacher.eval()
    model.train()
    g = torch.Generator().manual_seed(seed + 12345)
    log, t0 = [], time.time()
    for step in range(steps):
        batch = _to(data.batch(step, sched.batch_size), device)
        rows = None
        if loss.beta > 0 and loss.attn_rows:
            n = _seq_len(model, batch)
            rows = torch.randperm(n, generator=g)[: min(loss.attn_rows, n)].sort().values
        total, parts = distill_step_loss(model, teacher, batch, loss, rows)
        opt.zero_grad(set_to_none=True)
        total.backward()
        if sched.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), sched.grad_clip)
        opt.step()
        lr_sched.step()
        if (step + 1) % log_every == 0 or step == steps - 1:
            rec = {"step": step + 1, "loss": float(total.detach()), **parts, "s": round(time.time() - t0, 1)}
            log.append(rec)
            print(f"[{tag}] " + " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                          for k, v in rec.items()), flush=True)
    return log


def _seq_len(model: nn.Module, batch: dict[str, Tensor]) -> int:
    """Tokens the backbone runs for this batch (the encoder prepends a CLS)."""
    if "input_ids" not in batch:
        return int(model.max_seq_len)
    n = batch["input_ids"].shape[1]
    return n + 1 if getattr(model, "family", "") == "encoder" else n


# --- models, layouts, cost ---------------------------------------------------------------------------
def attention_cost(model: nn.Module, n: int) -> dict[str, Any]:
    """Allowed (query, key) pairs summed over layers and heads for one sequence of n tokens,
    useful forward FLOPs (4 * head_dim * pairs) and the density against causal/full dense."""
    mods = DL.attention_modules(model)
    if any(m.pattern.data_dependent for m in mods):
        return {"pairs": None, "note": "data-dependent pattern: pairs depend on the input"}
    counts = [layer_pairs(m.pattern, n, m.num_heads)[:2] for m in mods]  # (allowed, dense) per layer
    pairs, dense = sum(c[0] for c in counts), sum(c[1] for c in counts)
    return {"pairs": pairs, "fwd_flops": 4 * mods[0].head_dim * pairs, "density": pairs / dense,
            "patterns": sorted({m.pattern.name for m in mods})}


def _check_pair(teacher: nn.Module, student: nn.Module) -> None:
    if getattr(teacher, "family", None) != getattr(student, "family", None):
        raise ValueError(f"teacher ({teacher.family}) and student ({student.family}) must be of the same family")
    t, s = DL.attention_modules(teacher), DL.attention_modules(student)
    if len(t) != len(s) or t[0].num_heads != s[0].num_heads:
        raise ValueError(f"teacher has {len(t)} layers x {t[0].num_heads} heads, student {len(s)} x "
                         f"{s[0].num_heads}: attention maps and layouts need the same")


def learn_layouts(teacher: nn.Module, student: nn.Module, data: Data, spec: LayoutSpec, batch_size: int,
                  device) -> tuple[list[Tensor], dict[str, Any]]:
    """Per-layer block layouts from the teacher's mean attention on calibration batches (train
    split, a stream of its own). ``budget: match`` takes the largest budget whose pairs do not
    exceed those of the student's own pattern."""
    calib = [_to(data.batch(i, batch_size, "calib"), device) for i in range(spec.calibration_batches)]
    maps = [m.cpu() for m in DL.mean_attention_maps(teacher, calib)]
    n = maps[0].shape[-1]
    causal = DL.attention_modules(student)[0].pattern.causal
    n_blocks = -(-n // spec.block)
    info: dict[str, Any] = {"block": spec.block, "coverage_target": spec.coverage, "causal": causal,
                            "calibration_examples": spec.calibration_batches * batch_size}
    if spec.budget == "match":
        base = attention_cost(student, n)["pairs"]
        if base is None:
            raise ValueError("layout.budget: match needs a static student pattern to match")
        budget = 1
        for b in range(1, n_blocks + 1):
            lays = DL.layouts_from_maps(maps, spec.block, spec.coverage, b, causal)
            if DL.layout_pairs(lays, spec.block, n, causal) <= base:
                budget = b
        info["matched_pairs"] = base
    else:
        budget = int(spec.budget)
    layouts = DL.layouts_from_maps(maps, spec.block, spec.coverage, budget, causal)
    info.update(budget=budget, teacher_mass_covered=DL.coverage_of(maps, layouts, spec.block),
                blocks_per_row=float(torch.stack([lay.sum(-1).float().mean() for lay in layouts]).mean()))
    return layouts, info


def build_teacher(recipe: DistillRecipe, data: Data, device) -> tuple[nn.Module, dict[str, Any]]:
    t = recipe.teacher
    if t.checkpoint:
        model = load_checkpoint(t.checkpoint, **t.overrides).to(device)
        return model, {"checkpoint": t.checkpoint}
    torch.manual_seed(recipe.seed)
    model = create_model(t.name, **t.overrides).to(device)
    t0 = time.time()
    log = train(model, data, recipe.schedule, steps=t.steps, device=device, seed=recipe.seed,
                log_every=recipe.log_every, tag="teacher")
    out = Path(recipe.out)
    out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(model, out / "teacher.safetensors")
    return model, {"trained_steps": t.steps or recipe.schedule.steps, "train_seconds": round(time.time() - t0, 1),
                   "checkpoint": str(out / "teacher.safetensors"), "log": log}


def build_student(recipe: DistillRecipe, teacher: nn.Module, data: Data, device
                  ) -> tuple[nn.Module, list[Tensor] | None, dict[str, Any]]:
    s = recipe.student
    torch.manual_seed(recipe.seed + 1)
    model = create_model(s.name, **s.overrides).to(device)
    _check_pair(teacher, model)
    info: dict[str, Any] = {"init": s.init}
    if s.init == "teacher":
        missing, unexpected = model.load_state_dict(teacher.state_dict(), strict=False)
        if unexpected or [k for k in missing if ".router." not in k]:
            raise ValueError(f"student.init=teacher needs the same architecture; missing {missing}, "
                             f"unexpected {unexpected}")
    layouts = None
    if recipe.layout.enabled:
        layouts, info["layout"] = learn_layouts(teacher, model, data, recipe.layout, recipe.schedule.batch_size,
                                                device)
        DL.apply_layouts(model, layouts, recipe.layout.block, info["layout"]["causal"])
    return model, layouts, info


def save_student(model: nn.Module, path: str | Path, layouts: list[Tensor] | None = None,
                 block: int | None = None) -> None:
    """A zoo checkpoint; per-layer learned layouts ride in its metadata (``load_student``)."""
    meta = {}
    if layouts is not None:
        causal = DL.attention_modules(model)[0].pattern.causal
        meta[LAYOUT_KEY] = json.dumps({"block": block, "causal": causal,
                                       "layouts": [lay.int().tolist() for lay in layouts]})
    save_checkpoint(model, path, metadata=meta)


def load_student(path: str | Path, **overrides: Any) -> nn.Module:
    """The student of ``save_student`` with every layer's own learned layout restored."""
    model = load_checkpoint(path, **overrides)
    meta = read_checkpoint_metadata(path)
    if LAYOUT_KEY in meta:
        d = json.loads(meta[LAYOUT_KEY])
        DL.apply_layouts(model, [torch.tensor(x, dtype=torch.bool) for x in d["layouts"]], d["block"], d["causal"])
    return model


def _device(name: str) -> torch.device:
    return torch.device("cuda" if name == "auto" and torch.cuda.is_available() else
                        "cpu" if name == "auto" else name)


def run_distill(recipe: DistillRecipe, *, teacher: nn.Module | None = None, data: Data | None = None,
                teacher_info: dict | None = None, teacher_eval: dict | None = None) -> dict[str, Any]:
    """One distillation run: teacher (given, loaded or trained) -> student -> held-out scores.
    Writes ``out/{teacher,student}.safetensors``, ``out/metrics.json`` and the resolved recipe."""
    if recipe.threads:
        torch.set_num_threads(recipe.threads)
    device = _device(recipe.device)
    out = Path(recipe.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "recipe.yaml").write_text(yaml.safe_dump(dataclasses.asdict(recipe), sort_keys=False))
    data = data or Data(recipe.data, recipe.seed)
    bs = recipe.schedule.batch_size
    if teacher is None:
        teacher, teacher_info = build_teacher(recipe, data, device)
    n = _seq_len(teacher, data.batch(0, 1))
    if teacher_eval is None:
        teacher_eval = {**evaluate(teacher, data, bs, device), **attention_cost(teacher, n)}
    student, layouts, info = build_student(recipe, teacher, data, device)
    t0 = time.time()
    log = train(student, data, recipe.schedule, teacher=teacher, loss=recipe.loss, device=device,
                seed=recipe.seed, log_every=recipe.log_every, tag="student")
    info["train_seconds"] = round(time.time() - t0, 1)
    save_student(student, out / "student.safetensors", layouts, recipe.layout.block)
    result = {"recipe": dataclasses.asdict(recipe), "seq_len": n,
              "teacher": {**(teacher_info or {}), **teacher_eval},
              "student": {**info, **evaluate(student, data, bs, device), **attention_cost(student, n), "log": log}}
    (out / "metrics.json").write_text(json.dumps(result, indent=1, default=str))
    return result


# --- `zoo distill RECIPE` ---------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("recipe", help="a distillation recipe (recipes/distill/*.yaml)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe key, e.g. --set loss.alpha=0.5 --set schedule.steps=10")
    p.add_argument("--out", help="output folder (default: the recipe's `out`)")


def run(args: argparse.Namespace) -> int:
    recipe = load_recipe(args.recipe, args.set)
    if args.out:
        recipe.out = args.out
    r = run_distill(recipe)
    metric = "bits_per_dim" if recipe.data.dataset == "easyvqa" else "bits_per_char"
    for who in ("teacher", "student"):
        d = r[who]
        dens = d.get("density")
        print(f"{who}: {metric}={d[metric]:.4f} attention pairs={d.get('pairs')} "
              f"density={'n/a' if dens is None else f'{dens:.3f}'}")
    print(f"wrote {recipe.out}/metrics.json, {recipe.out}/student.safetensors")
    return 0
