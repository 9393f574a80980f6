"""Routing quality on a byte LM (issue #7): dense, bigbird, anchor routing (EMA k-means anchors,
balanced clusters + local window) and LSH (Reformer, 1/2/4/8 hashes) trained from scratch on the
same bytes, at the same parameter count and step budget; held-out bits/char per (arm, seed).

tools/anchor_vs_lsh.py asks how much of a trained dense model's attention each routing *can*
see; this asks what a model that must *learn* through the routing reaches. Pattern parameters
are the ones that report picked at a 64-key budget (benchmarks/anchor_vs_lsh.md), so the two
line up. Model, schedule and lr: recipes/distill/lm_tiny_bigbird.yaml (dim 64, depth 2, 4 heads,
N = 512, batch 8, lr 2e-3), task loss only, on ``--source`` (default pystdlib: ~30 MB, so a few
hundred steps cannot memorise it; the last 10% is held out).

Parameter count: Reformer shares Q and K, so the zoo's LSH layers have one projection fewer;
here LSH layers get their own K like every other arm (routing by the key vector, as anchors do),
so all arms have the same parameters (asserted). ``--lsh-shared-qk`` keeps Reformer's sharing.
Anchors are a buffer updated by EMA k-means inside the layers' forward in train mode (zoo's
AnchorRouter), not parameters; ``anchor_cos_first_last`` shows they moved during training.
Attention per query (``keys``: distinct allowed keys, ``slots``: (query, key) slots computed,
LSH rounds counted apart) is measured on held-out inputs through the trained model's routing.

    .venv/bin/python tools/routing_quality.py --out benchmarks/routing_quality

CPU only (static patterns run SDPA with the pattern's mask, routed ones the reference kernel;
wall seconds compare implementations on this CPU, not GPU speed).
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import datetime
import io
import json
import multiprocessing as mp
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT, ROOT / "tools"):  # `python tools/x.py` puts only tools/ on the path
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from anchor_vs_lsh import routed_mask, static_mask  # noqa: E402
from zoo import distill as D  # noqa: E402
from zoo import distill_layout as DL  # noqa: E402
from zoo.attention.anchors import AnchorRouter  # noqa: E402
from zoo.eval.likelihood import evaluate_lm  # noqa: E402
from zoo.registry import create_model  # noqa: E402

# (pattern, params): benchmarks/anchor_vs_lsh.md's picks at a budget of 64 keys per query, N = 512
ARMS = {
    "dense": ("dense", {}),
    "bigbird": ("bigbird", dict(block=8, window_blocks=3, global_blocks=1, random_blocks=6)),
    "anchor_ema": ("anchor", dict(n_anchors=10, chunk=48, window=16)),
    "lsh_1": ("lsh", dict(bucket_size=64, n_hashes=1, chunk=64)),
    "lsh_2": ("lsh", dict(bucket_size=32, n_hashes=2, chunk=32)),
    "lsh_4": ("lsh", dict(bucket_size=16, n_hashes=4, chunk=16)),
    "lsh_8": ("lsh", dict(bucket_size=8, n_hashes=8, chunk=8)),
}
BASE_MODEL = "lm_tiny_dense"  # every arm is this model with another pattern: same size by construction


# --- models ----------------------------------------------------------------------------------------
def build_arm(arm: str, sizes: dict, seed: int, lsh_shared_qk: bool = False) -> torch.nn.Module:
    """The byte LM of one arm, seeded. Routed patterns need the reference kernel on CPU (the
    dense backend takes static masks only). LSH layers get their own key projection (the model's
    ``shared_qk=False``) unless ``lsh_shared_qk``: the parameter count of every other arm."""
    pattern, params = ARMS[arm]
    separate = pattern == "lsh" and not lsh_shared_qk
    torch.manual_seed(seed)
    backend = "dense" if pattern in ("dense", "bigbird") else "reference"
    model = create_model(BASE_MODEL, **sizes, attn_backend=backend, pattern=pattern, pattern_params=params,
                         **({"shared_qk": False} if separate else {}))
    if separate:  # drawn from the seed alone, as the committed runs were
        torch.manual_seed(seed)
        model.init_weights()
    return model


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class _RoutedTap(DL.AttentionTap):
    """AttentionTap's q, k capture for routed patterns too (no static mask needed here)."""

    @staticmethod
    def _mask(m, n: int) -> torch.Tensor:
        return torch.ones(1, n, n, dtype=torch.bool)


@torch.no_grad()
def keys_per_query(model: torch.nn.Module, batch: dict) -> dict[str, float]:
    """Distinct allowed keys and computed slots per query, mean over layers, heads, queries
    (causal dense: (N + 1) / 2 keys), through the trained model's own routing (eval mode)."""
    model.eval()
    with _RoutedTap(model) as tap:
        model(input_ids=batch["input_ids"])
    keys, slots = [], []
    for t, m in zip(tap.taps, DL.attention_modules(model)):
        B, H, N, _ = t.k.shape
        if m.pattern.data_dependent:
            state = m.router(t.q, t.k) if m.router is not None else {}
            allowed, s = routed_mask(m.pattern, t.q, t.k, **state)
        else:
            allowed, s = static_mask(m.pattern, B, H, N)
        keys.append(float(allowed.sum(-1).float().mean()))
        slots.append(s)
    return {"keys": sum(keys) / len(keys), "slots": sum(slots) / len(slots)}


# --- one run (a worker process) ---------------------------------------------------------------------
_DATA: D.Data | None = None


def _init_worker(spec: D.DataSpec) -> None:
    global _DATA
    torch.set_num_threads(1)
    _DATA = D.Data(spec, 0)


def run_one(job: dict) -> dict:
    """Train one (arm, seed) from scratch, then score it on the fixed held-out set."""
    data = copy.copy(_DATA)
    data.seed = job["seed"]  # seed s: the same batches for every arm
    model = build_arm(job["arm"], job["sizes"], job["seed"], job["lsh_shared_qk"])
    routers = [m for m in model.modules() if isinstance(m, AnchorRouter)]
    first: dict[int, torch.Tensor] = {}

    def keep_first(mod, args, out) -> None:  # anchors after the first step (k-means init + one EMA update)
        if id(mod) not in first:
            first[id(mod)] = mod.anchors.detach().clone()
    hooks = [r.register_forward_hook(keep_first) for r in routers]
    sched = D.ScheduleSpec(**job["schedule"])
    t0 = time.time()
    with contextlib.redirect_stdout(io.StringIO()):  # train() logs a line per log_every; one line per run here
        log = D.train(model, data, sched, seed=job["seed"], log_every=max(1, sched.steps), tag=job["arm"])
    train_s = time.time() - t0
    for h in hooks:
        h.remove()
    batches = list(data.heldout_batches(sched.batch_size, windows=job["eval_seqs"]))
    t0 = time.time()
    ev = evaluate_lm(model, batches)
    eval_s = time.time() - t0
    out = {"arm": job["arm"], "seed": job["seed"], "bits_per_char": ev["bits_per_char"], "chars": ev["chars"],
           "final_train_loss": log[-1]["task"], "train_seconds": round(train_s, 1),
           "eval_seconds": round(eval_s, 1), "params": n_params(model),
           "pattern": DL.attention_modules(model)[0].pattern.describe(),
           "backend": DL.attention_modules(model)[0].backend,
           **keys_per_query(model, {"input_ids": batches[0]["input_ids"][:2]})}
    if routers:
        cos = [torch.nn.functional.cosine_similarity(first[id(r)], r.anchors, dim=-1).mean() for r in routers]
        out["anchor_cos_first_last"] = round(float(sum(cos) / len(cos)), 4)
    return out


# --- report ----------------------------------------------------------------------------------------
def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def summarize(runs: list[dict], arms: list[str]) -> dict:
    out = {}
    for arm in arms:
        rs = sorted((r for r in runs if r["arm"] == arm), key=lambda r: r["seed"])
        bpc = [r["bits_per_char"] for r in rs]
        out[arm] = {"pattern": rs[0]["pattern"], "backend": rs[0]["backend"], "params": rs[0]["params"],
                    "bits_per_char": {str(r["seed"]): round(r["bits_per_char"], 4) for r in rs},
                    "mean_bits_per_char": round(statistics.fmean(bpc), 4),
                    "std_bits_per_char": round(statistics.stdev(bpc), 4) if len(bpc) > 1 else None,
                    "final_train_loss": {str(r["seed"]): round(r["final_train_loss"], 4) for r in rs},
                    "train_seconds": {str(r["seed"]): r["train_seconds"] for r in rs},
                    "train_seconds_mean": round(statistics.fmean(r["train_seconds"] for r in rs), 1),
                    "keys_per_query": round(statistics.fmean(r["keys"] for r in rs), 1),
                    "slots_per_query": round(statistics.fmean(r["slots"] for r in rs), 1)}
        if "anchor_cos_first_last" in rs[0]:
            out[arm]["anchor_cos_first_last"] = [r["anchor_cos_first_last"] for r in rs]
    return out


def conclusions(arms: dict) -> list[str]:
    """Plain sentences computed from the numbers (nothing typed in)."""
    ranked = sorted(arms, key=lambda a: arms[a]["mean_bits_per_char"])
    m = {a: arms[a]["mean_bits_per_char"] for a in arms}
    spreads = [max(v.values()) - min(v.values()) for v in (arms[a]["bits_per_char"] for a in arms) if len(v) > 1]
    noise = max(spreads) if spreads else None
    out = [f"Lowest held-out bits/char: {ranked[0]} ({m[ranked[0]]:.3f}); highest: {ranked[-1]} ({m[ranked[-1]]:.3f})."]
    if "dense" in m:
        out[0] += f" Dense attention ranks {ranked.index('dense') + 1} of {len(ranked)} ({m['dense']:.3f})."
    lsh = [a for a in ranked if a.startswith("lsh_")]
    if "anchor_ema" in m and lsh:
        gap = m["anchor_ema"] - m[lsh[0]]
        s = (f"anchor_ema is {abs(gap):.3f} bits/char {'below' if gap < 0 else 'above'} the best LSH arm "
             f"({lsh[0]}, {m[lsh[0]]:.3f})")
        if noise is None:
            s += " (one seed: no seed spread to compare with)."
        else:
            a, b = arms["anchor_ema"]["bits_per_char"], arms[lsh[0]]["bits_per_char"]
            paired = ", ".join(f"{a[k] - b[k]:+.3f}" for k in a if k in b)  # same seed: same init seed and batches
            s += (f", {'more' if abs(gap) > noise else 'less'} than the largest seed-to-seed spread of any arm "
                  f"({noise:.3f}); per seed (anchor_ema - {lsh[0]}): {paired}.")
        out.append(s)
    if len(lsh) > 1:
        by_h = sorted(lsh, key=lambda a: int(a.split("_")[1]))
        vals = [m[a] for a in by_h]
        trend = ("fell with every doubling of the hashes" if all(b < a for a, b in zip(vals, vals[1:])) else
                 "rose with every doubling of the hashes" if all(b > a for a, b in zip(vals, vals[1:])) else
                 "did not move monotonically with the hashes")
        out.append(f"LSH bits/char {trend}: " + ", ".join(f"{a} {m[a]:.3f}" for a in by_h) + ".")
    return out


def markdown(r: dict) -> str:
    c = r["config"]
    arms = r["arms"]
    base = arms.get("dense", {}).get("mean_bits_per_char")
    lines = ["# Routing quality on a byte LM: anchor vs LSH vs BigBird vs dense (CPU)", "",
             f"Command: `{r['command']}`", "",
             f"{r['date']}, torch {r['torch']}, {r['cpu']} ({r['workers']} worker processes, 1 thread each). "
             f"Total wall time {r['wall_seconds'] / 60:.1f} min.", "",
             f"Every arm is `{BASE_MODEL}` with {c['sizes']} and another pattern: {c['params']:,} parameters each"
             f"{'' if c['equal_params'] else ' (NOT equal: see the table)'}. {c['steps']} steps from scratch, batch "
             f"{c['batch_size']} x {c['seq_len']} bytes, lr {c['lr']} (warmup {c['warmup_steps']}, cosine), task loss "
             f"only, seeds {c['seeds']} (seed s: the same init seed and batches for every arm). Data: `{c['source']}` "
             f"(last {c['heldout_fraction']:.0%} held out); bits/char on a fixed {c['eval_chars']:,}-byte held-out set "
             f"({c['eval_seqs']} windows spread over the split). LSH: "
             + ("shared QK (Reformer). " if c["lsh_shared_qk"] else
                "separate Q and K (same parameters; routed by the key, as anchors are). ") +
             "Pattern parameters: the 64-key-budget picks of benchmarks/anchor_vs_lsh.md.", "",
             "| rank | arm | pattern | params | mean bits/char | per seed | vs dense | keys/query | slots/query "
             "| CPU train s/run | backend |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for i, (name, a) in enumerate(sorted(arms.items(), key=lambda kv: kv[1]["mean_bits_per_char"]), 1):
        per = " / ".join(f"{v:.4f}" for v in a["bits_per_char"].values())
        vs = "" if base is None or name == "dense" else f"{a['mean_bits_per_char'] - base:+.4f}"
        lines.append(f"| {i} | {name} | `{a['pattern']}` | {a['params']:,} | {a['mean_bits_per_char']:.4f} | {per} "
                     f"| {vs} | {a['keys_per_query']:.1f} | {a['slots_per_query']:.1f} | {a['train_seconds_mean']:.0f} "
                     f"| {a['backend']} |")
    lines += ["", f"keys/query: distinct allowed keys per query, slots/query: (query, key) slots computed (LSH rounds "
              f"apart), both measured through the trained models' routing on held-out inputs; causal dense averages "
              f"{(c['seq_len'] + 1) / 2:.1f}. CPU seconds compare this machine's CPU kernels (SDPA with a mask for "
              "static patterns, the reference gather kernel for routed ones), not GPU speed."]
    anc = arms.get("anchor_ema", {}).get("anchor_cos_first_last")
    if anc:
        lines.append(f"EMA anchors: mean cosine between the anchors after the first step and at the end "
                     f"{', '.join(f'{x:.3f}' for x in anc)} per seed (1 = never moved).")
    lines += ["", "## Conclusions", ""] + [f"- {s}" for s in r["conclusions"]] + [""]
    return "\n".join(lines)


# --- main ------------------------------------------------------------------------------------------
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arms", default=",".join(ARMS), help=f"comma list from {list(ARMS)}")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--recipe", default="recipes/distill/lm_tiny_bigbird.yaml", help="model sizes and schedule")
    p.add_argument("--source", default="pystdlib", help="text source (zoo.distill.text_bytes)")
    p.add_argument("--lr", type=float, help="override the recipe's lr")
    p.add_argument("--eval-seqs", type=int, default=128, help="held-out windows scored")
    p.add_argument("--workers", type=int, default=2, help="processes (spawn), one thread each")
    p.add_argument("--lsh-shared-qk", action="store_true",
                   help="keep Reformer's shared QK in LSH layers (one projection fewer: parameter counts differ)")
    p.add_argument("--out", default="benchmarks/routing_quality")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    t_start = time.time()
    arms = [a for a in args.arms.split(",") if a]
    bad = sorted(set(arms) - set(ARMS))
    if bad:
        p.error(f"unknown arm(s) {bad}; choose from {list(ARMS)}")
    seeds = [int(s) for s in args.seeds.split(",") if s]
    recipe = D.load_recipe(ROOT / args.recipe if not Path(args.recipe).is_absolute() else args.recipe)
    sizes = {k: v for k, v in recipe.teacher.overrides.items() if k != "attn_backend"}
    spec = dataclasses.replace(recipe.data, source=args.source)
    sched = dataclasses.replace(recipe.schedule, steps=args.steps, **({"lr": args.lr} if args.lr else {}))
    params = {a: n_params(build_arm(a, sizes, 0, args.lsh_shared_qk)) for a in arms}
    equal = len(set(params.values())) == 1
    if not args.lsh_shared_qk:
        assert equal, f"arms differ in parameter count: {params}"
    jobs = [{"arm": a, "seed": s, "sizes": sizes, "schedule": dataclasses.asdict(sched), "eval_seqs": args.eval_seqs,
             "lsh_shared_qk": args.lsh_shared_qk} for s in seeds for a in arms]
    jobs.sort(key=lambda j: -ARMS[j["arm"]][1].get("n_hashes", 0))  # slowest first: even finish across workers
    print(f"{len(jobs)} runs ({len(arms)} arms x {len(seeds)} seeds), {args.steps} steps, params {params}", flush=True)
    runs = []
    workers = max(1, min(args.workers, len(jobs)))
    if workers == 1:
        _init_worker(spec)
        results = map(run_one, jobs)
        pool = contextlib.nullcontext()
    else:
        pool = mp.get_context("spawn").Pool(workers, _init_worker, (spec,))
        results = pool.imap_unordered(run_one, jobs)
    with pool:
        for r in results:
            runs.append(r)
            print(f"[{len(runs)}/{len(jobs)}] {r['arm']} seed {r['seed']}: {r['bits_per_char']:.4f} bits/char, "
                  f"train {r['train_seconds']:.0f} s, {r['keys']:.1f} keys/query "
                  f"({(time.time() - t_start) / 60:.1f} min)", flush=True)
    summary = summarize(runs, arms)
    cmd = [".venv/bin/python", "tools/routing_quality.py"] + list(sys.argv[1:] if argv is None else argv)
    report = {"command": shlex.join(cmd), "date": datetime.datetime.now().isoformat(timespec="minutes"),
              "torch": torch.__version__, "python": platform.python_version(), "cpu": cpu_name(),
              "cpu_count": os.cpu_count(), "workers": workers, "threads_per_worker": 1,
              "config": {"base_model": BASE_MODEL, "sizes": sizes, "params": params[arms[0]], "equal_params": equal,
                         "params_per_arm": params, "steps": args.steps, "seeds": seeds,
                         "batch_size": sched.batch_size, "seq_len": spec.seq_len, "lr": sched.lr,
                         "warmup_steps": sched.warmup_steps, "min_lr_ratio": sched.min_lr_ratio,
                         "weight_decay": sched.weight_decay, "grad_clip": sched.grad_clip, "source": spec.source,
                         "heldout_fraction": spec.heldout_fraction, "eval_seqs": args.eval_seqs,
                         "eval_chars": runs[0]["chars"], "lsh_shared_qk": args.lsh_shared_qk,
                         "recipe": args.recipe},
              "wall_seconds": round(time.time() - t_start, 1), "arms": summary,
              "conclusions": conclusions(summary), "runs": sorted(runs, key=lambda r: (r["arm"], r["seed"]))}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1))
    out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
