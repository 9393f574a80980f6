"""Anchor routing vs LSH (the survey's proposal 4.3), measured on a trained dense teacher.

For every layer and head of the teacher, on held-out inputs: the teacher's dense attention P, and
for each routing the set of keys each query may see. Reported per method at a matched key
budget (distinct allowed keys per query, causal):
  mass    mean over queries of sum_j P[i, j] over the allowed keys (the share of the dense
          attention mass the pattern can reproduce at all),
  recall  share of each query's top-k teacher keys (k = --topk) that are allowed,
  slots   (query, key) slots the kernel computes per query (LSH rounds count separately).
Methods: anchor (EMA k-means anchors fitted on the teacher's *training* keys, then frozen),
the same without its local window (content routing alone), anchor with per-input k-means,
lsh with 1/2/4/8 hashes (Reformer: random rotations, sort, own + previous chunk, no self unless
alone), bigbird, sliding window, a learned static layout (from the teacher's training-set
attention), and the oracle top-B keys (an upper bound).
Both routings place a position by its *key* vector (as the patterns do); the teacher has
separate Q and K (an LSH model would share them), which handicaps both alike.

    PYTHONPATH=$PWD python3 tools/anchor_vs_lsh.py \
        --teacher runs/distill_report/lm/teacher/teacher.safetensors --budget 64

GPU speed: not measured here (CPU job).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

import torch
from torch import Tensor

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from zoo import distill as D  # noqa: E402
from zoo import distill_layout as DL  # noqa: E402
from zoo.attention import build  # noqa: E402
from zoo.attention.anchors import AnchorRouter  # noqa: E402
from zoo.registry import load_checkpoint  # noqa: E402


# --- allowed-key masks -------------------------------------------------------------------------
def routed_mask(pattern, q: Tensor, k: Tensor, **state) -> tuple[Tensor, float]:
    """(allowed (B, H, N, N) bool, compute slots per query) of a data-dependent pattern, from the
    token-level masks of the components its ``route`` returns (the kernels' truth). LSH's
    self-exclusion is applied after the rounds merge: the -1e5 self score gives a round whose
    only key is the query itself ~zero weight in the log-sum-exp merge, so self survives only
    for a query with no other key in any round."""
    B, H, N, _ = k.shape
    b = torch.arange(B).view(B, 1, 1, 1)
    h = torch.arange(H).view(1, H, 1, 1)
    i = torch.arange(N).view(1, 1, N, 1)
    j = torch.arange(N).view(1, 1, 1, N)
    allowed = torch.zeros(B, H, N, N, dtype=torch.bool)
    slots, self_bias = 0, False
    for comp in pattern.route(q, k, **state):
        m = comp.mask(b, h, i, j, *comp.buffers_on("cpu")).expand(B, H, N, N)
        slots += int(m.sum())
        allowed |= m
        self_bias |= bool(comp.diag_bias)
    if self_bias:  # Reformer: the -1e5 self score leaves self only to a query with no other key in any round
        alone = (allowed & (i != j)).sum(-1, keepdim=True) == 0
        allowed = allowed & ((i != j) | alone)
    return allowed, slots / (B * H * N)


def static_mask(pattern, B: int, H: int, N: int) -> tuple[Tensor, float]:
    m = pattern.token_mask(N, N, H).expand(H, N, N)
    return m[None].expand(B, H, N, N), float(m.sum()) / (H * N)


def oracle_mask(P: Tensor, budget: int) -> Tensor:
    """The top-``budget`` teacher keys of every query (ties broken by index)."""
    top = P.topk(min(budget, P.shape[-1]), dim=-1).indices
    return torch.zeros_like(P, dtype=torch.bool).scatter(-1, top, True) & (P > 0)


def scores(P: Tensor, allowed: Tensor, topk: int) -> dict[str, float]:
    """mass, top-k recall and distinct keys per query of one layer (P (B, H, N, N) causal)."""
    mass = (P * allowed).sum(-1)  # (B, H, N)
    N = P.shape[-1]
    rows = torch.arange(N) >= topk - 1  # queries with at least topk causal keys
    top = P.topk(topk, dim=-1).indices
    hit = torch.gather(allowed, -1, top).float().mean(-1)  # (B, H, N)
    return {"mass": float(mass.mean()), "recall": float(hit[..., rows].mean()),
            "keys": float(allowed.sum(-1).float().mean())}


# --- the teacher's q, k, P -------------------------------------------------------------------------
@torch.no_grad()
def capture(model, batches) -> list[list[dict[str, Tensor]]]:
    """Per batch, per layer: q, k (B, H, N, D) and the teacher's probabilities P (B, H, N, N)."""
    model.eval()
    out = []
    for batch in batches:
        with DL.AttentionTap(model) as tap:
            model(**batch)
        out.append([{"q": t.q, "k": t.k, "P": t.probs()} for t in tap.taps])
    return out


def fit_anchors(train: list[list[dict]], n_anchors: int, seed: int = 0, decay: float = 0.99) -> list[AnchorRouter]:
    """One EMA k-means router per layer, fitted on training keys (k-means init on the first
    batch, EMA updates on the rest), then frozen (eval mode)."""
    routers = []
    for layer in range(len(train[0])):
        _, H, _, Dh = train[0][layer]["k"].shape
        r = AnchorRouter(H, Dh, n_anchors, decay=decay, seed=seed).train()
        for batch in train:
            r(batch[layer]["q"], batch[layer]["k"])
        routers.append(r.eval())
    return routers


def candidates(N: int, budget: int, n_hashes: list[int]) -> dict[str, list]:
    """Parameter grids per method; each method keeps the member whose measured distinct keys
    per query come closest to the budget."""
    chunks = [c for c in (4, 8, 16, 24, 32, 48, 64, 96, 128) if c < N]
    out = {"sliding_window": [build("sliding_window", left=budget - 1, right=0, causal=True)]}
    out["bigbird"] = [build("bigbird", block=b, window_blocks=3, global_blocks=1, random_blocks=r, causal=True)
                      for b in (8, 16, 32) for r in (0, 1, 2, 3, 4, 6) if b < N]
    for h in n_hashes:
        out[f"lsh_{h}"] = [build("lsh", bucket_size=c, n_hashes=h, chunk=c, causal=True) for c in chunks]
    for kind in ("anchor_ema", "anchor_kmeans"):
        out[kind] = [build("anchor", n_anchors=max(2, N // c), chunk=c, window=w, causal=True)
                     for c in chunks for w in (0, 16) if w < budget]
    # content routing alone (no local window): the part that competes with LSH head to head
    out["anchor_ema_nowindow"] = [build("anchor", n_anchors=max(2, N // c), chunk=c, window=0, causal=True)
                                  for c in chunks]
    return out


def evaluate_method(kind: str, pattern, data: list[list[dict]], routers=None) -> list[tuple[Tensor, float]]:
    """Allowed masks (and slots/query) per batch and layer."""
    res = []
    for batch in data:
        row = []
        for layer, t in enumerate(batch):
            B, H, N, _ = t["k"].shape
            if kind.startswith("anchor_ema"):
                st = routers[layer](t["q"], t["k"])
                row.append(routed_mask(pattern, t["q"], t["k"], **st))
            elif pattern.data_dependent:
                row.append(routed_mask(pattern, t["q"], t["k"]))
            else:
                row.append(static_mask(pattern, B, H, N))
        res.append(row)
    return res


def summarize(data, masks, topk) -> dict:
    per_layer = []
    for layer in range(len(data[0])):
        s = [scores(b[layer]["P"], m[layer][0], topk) for b, m in zip(data, masks)]
        slots = sum(m[layer][1] for m in masks) / len(masks)
        per_layer.append({k: sum(x[k] for x in s) / len(s) for k in s[0]} | {"slots": slots})
    mean = {k: sum(x[k] for x in per_layer) / len(per_layer) for k in per_layer[0]}
    return {**mean, "per_layer": per_layer}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--teacher", default="runs/distill_report/lm/teacher/teacher.safetensors")
    p.add_argument("--recipe", default="recipes/distill/lm_tiny_bigbird.yaml", help="data settings")
    p.add_argument("--budget", type=int, default=64, help="distinct keys per query to match")
    p.add_argument("--topk", type=int, default=8)
    p.add_argument("--hashes", default="1,2,4,8")
    p.add_argument("--train-batches", type=int, default=4)
    p.add_argument("--heldout-batches", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="benchmarks/anchor_vs_lsh")
    p.add_argument("--conclusions", help="re-render the existing report with this markdown file of conclusions")
    args = p.parse_args(argv)
    out = Path(args.out)
    if args.conclusions:
        report = json.loads(out.with_suffix(".json").read_text())
        report["conclusions"] = Path(args.conclusions).read_text().strip()
        out.with_suffix(".json").write_text(json.dumps(report, indent=1))
        out.with_suffix(".md").write_text(markdown(report))
        return 0
    torch.set_num_threads(args.threads)
    t0 = time.time()
    recipe = D.load_recipe(args.recipe)
    data = D.Data(recipe.data, recipe.seed)
    teacher = load_checkpoint(args.teacher)
    train = capture(teacher, [data.batch(10_000 + i, args.batch_size) for i in range(args.train_batches)])
    held = capture(teacher, list(data.heldout_batches(args.batch_size))[: args.heldout_batches])
    N = held[0][0]["k"].shape[2]
    hashes = [int(h) for h in args.hashes.split(",")]
    results = {}
    for kind, grid in candidates(N, args.budget, hashes).items():
        best = None
        for pat in grid:  # choose parameters on the training inputs, score on held-out ones
            routers = fit_anchors(train, pat.n_anchors, pat.seed, pat.decay) if kind.startswith("anchor_ema") else None
            keys = summarize(train[:1], evaluate_method(kind, pat, train[:1], routers), args.topk)["keys"]
            if best is None or abs(keys - args.budget) < abs(best[0] - args.budget):
                best = (keys, pat, routers)
        _, pat, routers = best
        results[kind] = {"pattern": pat.describe(),
                         **summarize(held, evaluate_method(kind, pat, held, routers), args.topk)}
        print(kind, {k: round(v, 4) for k, v in results[kind].items() if isinstance(v, float)}, flush=True)
    # learned static layout from the teacher's training-set attention, budget in blocks matched
    maps = [torch.stack([b[layer]["P"] for b in train]).flatten(0, 1).mean(0) for layer in range(len(train[0]))]
    block = 16
    best = None
    for budget in range(1, N // block + 1):
        lays = DL.layouts_from_maps(maps, block, 1.0, budget, True)
        keys = sum(float(DL.learned_pattern(x, block, True).token_mask(N, N, x.shape[0]).sum()) / (x.shape[0] * N)
                   for x in lays) / len(lays)
        if best is None or abs(keys - args.budget) < abs(best[0] - args.budget):
            best = (keys, budget, lays)
    lays = best[2]
    masks = [[static_mask(DL.learned_pattern(x, block, True), b[0]["k"].shape[0], x.shape[0], N) for x in lays]
             for b in held]
    results["learned_layout"] = {"pattern": f"learned(block={block}, budget={best[1]} blocks/row, per layer/head)",
                                 **summarize(held, masks, args.topk)}
    orc = [[(oracle_mask(t["P"], args.budget), float(args.budget)) for t in b] for b in held]
    results["oracle_topB"] = {"pattern": f"teacher's top-{args.budget} keys per query (upper bound)",
                              **summarize(held, orc, args.topk)}
    for k in ("learned_layout", "oracle_topB"):
        print(k, {a: round(v, 4) for a, v in results[k].items() if isinstance(v, float)}, flush=True)
    report = {"command": "PYTHONPATH=$PWD python3 tools/anchor_vs_lsh.py " + " ".join(argv or sys.argv[1:]),
              "date": datetime.date.today().isoformat(), "teacher": args.teacher, "seq_len": N,
              "budget_keys_per_query": args.budget, "topk": args.topk,
              "heldout_sequences": sum(b[0]["k"].shape[0] for b in held),
              "train_sequences_for_fitting": sum(b[0]["k"].shape[0] for b in train),
              "gpu_speed": "not run", "seconds": round(time.time() - t0, 1), "methods": results}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1))
    out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))
    return 0


def markdown(r: dict) -> str:
    lines = ["# Anchor routing vs LSH: how much of a dense teacher's attention each pattern can see", "",
             f"Command: `{r['command']}`", "",
             f"Teacher `{r['teacher']}`; N = {r['seq_len']} bytes; {r['heldout_sequences']} held-out sequences "
             f"(anchors fitted on {r['train_sequences_for_fitting']} training sequences). Budget: "
             f"{r['budget_keys_per_query']} distinct keys per query "
             f"(causal dense averages {(r['seq_len'] + 1) / 2:.0f}). "
             "GPU speed and ListOps quality: the last section, read from the committed H200 benchmarks.", "",
             f"| method | parameters (closest to the budget) | dense mass recovered | top-{r['topk']} recall | "
             "distinct keys/query | computed slots/query |", "|---|---|---|---|---|---|"]
    for name, m in sorted(r["methods"].items(), key=lambda kv: -kv[1]["mass"]):
        lines.append(f"| {name} | `{m['pattern']}` | {m['mass']:.3f} | {m['recall']:.3f} | {m['keys']:.1f} | "
                     f"{m['slots']:.1f} |")
    lines += gpu_section()
    lines += ["", "## Conclusions", "", r.get("conclusions", "(to be written from the numbers above)"), ""]
    return "\n".join(lines)


def gpu_section() -> list[str]:
    """Speed (benchmarks/attention_h200.json) and ListOps quality (benchmarks/listops_h200.json)
    of the two routings on the H200, next to the static patterns: never typed in."""
    from zoo.bench import latest
    root = Path(__file__).resolve().parents[1] / "benchmarks"
    att = json.loads((root / "attention_h200.json").read_text())
    lines = ["", "## On the H200", "", f"Attention alone, forward+backward, {att['shapes']} "
             "(`benchmarks/attention_h200.json`; routing, sorting and unsorting included; lsh: bucket 64, 2 hashes; "
             "anchor: 64 anchors):", "", "| pattern | N | fwd+bwd ms | useful TFLOP/s | run |", "|---|---|---|---|---|"]
    for name in ("lsh", "anchor", "bigbird", "longformer"):
        for n in (16384, 65536):
            row, run = latest(att, impl="zoo", pattern=name, N=n)
            if row:
                lines.append(f"| {name} | {n:,} | {row['fwdbwd_ms']:.2f} | {row['useful_tflops_fwdbwd']:.0f} | "
                             f"{run['date'][:16]} ({row.get('path', run['path'])}) |")
    lo = json.loads((root / "listops_h200.json").read_text())
    lines += ["", f"ListOps (LRA definition) test accuracy after {lo['budget']} (`benchmarks/listops_h200.json`):", "",
              "| encoder | steps | test accuracy % |", "|---|---|---|"]
    for r in sorted(lo["results"].values(), key=lambda r: -r["eval"]["accuracy"]):
        lines.append(f"| `{r['model']}` | {r['step']:,} | {r['eval']['accuracy']:.2f} |")
    return lines


if __name__ == "__main__":
    sys.exit(main())
