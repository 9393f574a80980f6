"""FlexAttention kernel tiles for the attention calls our models make, timed fwd+bwd on one GPU.

FlexAttention picks its Triton tiles from a per-GPU default; session 14's H200 profile of the
pixel model at 12,288 x 32 spent 53 of its 71 attention ms in the backward (3.2x the forward for
the sliding layers, 5x for the 64-token class pieces, against a ~2.5x FLOP ratio). This takes each
distinct layer pattern of the named models at their training shape, runs exactly what a compiled
block runs in its graph (``SparseSelfAttention.graph_mask``: the fused BlockMask, or r class heads on
the "batch" view), and times every tile variant against the default, checking outputs and
gradients equal to the default's (bf16). The default is what the models run (kernels/tiles.py,
chosen by session 15's sweep); ``torch`` is FlexAttention's own choice. Variants that do not
compile are recorded, not fatal. q, k, v are contiguous (the models' ZOO_GRAPH_VIEWS=0; their GPU
default, the projection's views, is not mirrored here). Every case runs the default first, then
each variant in turn over all cases (a deadline cuts variants, not cases); the JSON is rewritten
after every row. The timed step also computes the loss
and the class view's reshuffle, the same for every variant.

    PYTHONPATH=$PWD python3 tools/tune_flex_tiles.py --out $OUT/tiles.json [--cases anchors]

``--cases anchors`` takes issue #3's benchmark patterns instead (sliding window 512 at 193 useful
TFLOP/s fwd+bwd at 16k with session 15's tiles, the goal is 200).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from zoo.attention.kernels.tiles import BWD_TILES, BWD_TILES_32, FWD_TILES_64  # noqa: E402

# (name, kernel_options): unprefixed BLOCK_M/N are the forward's tiles, BLOCK_M1..N2 the backward's;
# fwd_/bwd_ prefixes keep any option (tiles, warps, stages) to one pass. Every tile divides the 128-token
# blocks; on 64-token blocks (fused patterns on sm90 since session 18) those with 128-wide tiles, torch's
# own included, are skipped.
VARIANTS = {
    "default": None,  # what the models run: kernels/tiles.py's choice
    "torch": {},  # torch's own tiles
    "bwd_64x64_w4": dict(BWD_TILES),  # the default since session 15 (on 64-token blocks until session 26)
    "bwd_32x64_w4": {**BWD_TILES, **FWD_TILES_64, **BWD_TILES_32},  # 64-token blocks' default since session 26
    "bwd_32x128_w4": dict(BLOCK_M1=32, BLOCK_N1=128, BLOCK_M2=128, BLOCK_N2=32, bwd_num_warps=4, bwd_num_stages=3),
    "bwd_64x128_w8": dict(BLOCK_M1=64, BLOCK_N1=128, BLOCK_M2=128, BLOCK_N2=64, bwd_num_warps=8, bwd_num_stages=3),
    "bwd_64x128_w4_s2": dict(BLOCK_M1=64, BLOCK_N1=128, BLOCK_M2=128, BLOCK_N2=64, bwd_num_warps=4, bwd_num_stages=2),
    "fwd_128x64_w4": dict(BLOCK_M=128, BLOCK_N=64, fwd_num_warps=4, fwd_num_stages=3),
    "all_64": dict(BLOCK_M=64, BLOCK_N=64, BLOCK_M1=64, BLOCK_N1=64, BLOCK_M2=64, BLOCK_N2=64),
    "ours_fwd_128x64_w4": dict(BWD_TILES, BLOCK_M=128, BLOCK_N=64, fwd_num_warps=4, fwd_num_stages=3),
}
MODELS = {"pixel_base_strided.imagenet64": (12288, 32), "lm_base_longformer.enwik8": (16384, 16)}


def layer_cases(per_model: int):
    """(model, pattern, B, H, N, D) for ``per_model`` of each model's distinct layer patterns, spread
    from its first to its last (the LM: its first sliding window and its last, dilated, layers)."""
    from zoo.registry import create_model
    out = []
    for name, (n, b) in MODELS.items():
        with torch.device("meta"):
            m = create_model(name)
        distinct = list({repr(p): p for p in m.patterns}.values())
        k = min(per_model, len(distinct))
        picks = sorted({round(i * (len(distinct) - 1) / max(k - 1, 1)) for i in range(k)})
        out += [(name, distinct[i], b, m.config.num_heads, n, m.config.dim // m.config.num_heads) for i in picks]
    return out


def anchor_cases(n: int = 16384):
    """(name, pattern, B, H, N, D) of issue #3's static patterns (bench_attention.cases(), the shapes
    of shared/ANCHORS.md: B x N = 65,536 tokens, H = 16, D = 64) that run inside a compiled graph."""
    from bench_attention import D as AD, H as AH, cases
    from zoo.attention.patterns import runs_fused
    keep = []
    for name, p in cases().items():
        if not p.data_dependent and (runs_fused(p, (n, n, AH, 0)) or name == "dilated_window"):
            keep.append((f"anchors:{name}", p, 65536 // n, AH, n, AD))
    return keep


def run_case(p, B, H, N, D, opts, reps):
    """(ms fwd+bwd, out, grads) of the in-graph call with these kernel options."""
    from torch.nn.attention.flex_attention import flex_attention

    from zoo.attention import SparseSelfAttention
    from zoo.attention.attention import graph_attention
    attn = SparseSelfAttention(H * D, H, p)
    attn.graph_views = False  # the inputs here are contiguous: the "batch" class view is the free one
    gm = attn.graph_mask(torch.empty(1, N, H * D, device="cuda", dtype=torch.bfloat16))  # the models' blocks
    if gm is None or gm is True:
        raise ValueError(f"{p!r} does not run in the graph at {N} tokens")
    block = min(gm.BLOCK_SIZE)
    tiles = [v for key, v in (opts or {}).items() if "BLOCK_" in key]
    if block < 128 and (opts == {} or any(block % t for t in tiles)):
        raise ValueError(f"skipped: these tiles do not divide the mask's {block}-token blocks")
    fn = torch.compile(flex_attention, dynamic=False)
    g = torch.Generator(device="cuda").manual_seed(0)
    q, k, v = (torch.randn(B, H, N, D, device="cuda", dtype=torch.bfloat16, generator=g).requires_grad_()
               for _ in range(3))

    def step():
        out = graph_attention(q, k, v, gm, scale=D ** -0.5, causal=p.causal, kernel_options=opts, attend=fn)
        grads = torch.autograd.grad(out.float().square().mean(), (q, k, v))
        return out, grads
    out, grads = step()  # compiles
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        step()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / reps, out.detach().float(), [x.float() for x in grads]


def _rel(a, b):
    return ((a - b).abs().max() / b.abs().max().clamp(min=1e-6)).item()


def markdown(doc: dict) -> str:
    """benchmarks/flex_tiles_h200.md from its JSON: per run, each case's fwd+bwd ms per variant and
    the ratio to torch's own tiles (tools/update_readme.py keeps it in step)."""
    parts = ["# FlexAttention tile sweep", "", doc["note"], ""]
    for i, run in enumerate(doc["runs"], 1):
        rows = [r for r in run["rows"] if "fwdbwd_ms" in r]
        variants = list(dict.fromkeys(r["variant"] for r in rows))
        cases = list(dict.fromkeys((r["model"], r["pattern"]) for r in rows))
        ms = {(r["model"], r["pattern"], r["variant"]): r["fwdbwd_ms"] for r in rows}
        parts += [f"## Run {i}: {run['date']}, {run['gpu']}, torch {run['torch']}", "",
                  f"Command: `{run['command']}`", "",
                  run["note"], "", "fwd+bwd ms (x torch's own tiles):", "",
                  "| case | B x H x N x D | " + " | ".join(variants) + " |", "|---|---|" + "---|" * len(variants)]
        for model, pattern in cases:
            shape = next(f"{r['B']} x {r['H']} x {r['N']} x {r['D']}"
                         for r in rows if (r["model"], r["pattern"]) == (model, pattern))
            ref = ms.get((model, pattern, "torch"))
            cells = [f"{v:.2f}" + (f" ({v / ref:.2f})" if ref else "") if (v := ms.get((model, pattern, n))) else "-"
                     for n in variants]
            parts.append(f"| {model.split('.')[0]}: {pattern.split('(')[0]} | {shape} | " + " | ".join(cells) + " |")
        errors = [f"{r['variant']} on {r['model']}: {r['error']}" for r in run["rows"] if "error" in r]
        parts += [""] + [f"- failed: {e}" for e in errors] + ([""] if errors else [])
    return "\n".join(parts)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True,
                    help="this run's JSON (benchmarks/flex_tiles_h200.json holds every run, merged)")
    ap.add_argument("--per-model", type=int, default=2, help="distinct layer patterns per model")
    ap.add_argument("--cases", choices=("models", "anchors", "both"), default="models",
                    help="the models' layers at training shape, issue #3's benchmark patterns, or both")
    ap.add_argument("--variants", default=",".join(v for v in VARIANTS if v != "bwd_32x64_w4"),  # = default now
                    help=f"comma-separated, from {', '.join(VARIANTS)}")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--deadline", type=float, default=0, help="seconds; write what is done by then and stop")
    args = ap.parse_args(argv)
    names = [v for v in args.variants.split(",") if v]
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown or "default" not in names:
        ap.error(f"--variants takes names from {sorted(VARIANTS)} and must include default (the reference); "
                 f"unknown: {unknown}")
    names = ["default"] + [v for v in names if v != "default"]
    if not torch.cuda.is_available():
        print("tune_flex_tiles: needs a CUDA GPU", file=sys.stderr)
        return 2
    from zoo.attention.kernels.block_mask import raise_recompile_limits
    raise_recompile_limits()
    t0, rows, refs = time.time(), [], {}
    todo = (layer_cases(args.per_model) if args.cases != "anchors" else []) + \
        (anchor_cases() if args.cases != "models" else [])
    doc = dict(date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               gpu=torch.cuda.get_device_name(), torch=torch.__version__, command=" ".join(sys.argv), rows=rows)
    for name in names:  # every case's default first, so a deadline cuts variants, not cases
        for i, (model, p, B, H, N, D) in enumerate(todo):
            if args.deadline and time.time() - t0 > args.deadline:
                break
            row = dict(model=model, pattern=repr(p), B=B, H=H, N=N, D=D, variant=name, kernel_options=VARIANTS[name])
            try:
                ms, out, grads = run_case(p, B, H, N, D, VARIANTS[name], args.reps)
                row["fwdbwd_ms"] = round(ms, 3)
                if name == "default":
                    refs[i] = (out, grads)
                if i in refs:  # outputs and gradients against the default tiles'
                    row["max_rel_err"] = max([_rel(out, refs[i][0])] + [_rel(a, b) for a, b in zip(grads, refs[i][1])])
                    row["ok"] = row["max_rel_err"] < 2e-2
            except Exception as e:  # one variant that does not compile must not hide the others
                row["error"] = f"{type(e).__name__}: {e}"[:300]
            rows.append(row)
            with open(args.out, "w") as f:  # after every row: a timeout keeps what was measured
                json.dump(doc, f, indent=1)
            print(f"{model[:14]:14s} {repr(p)[:44]:44s} {name:18s} {row.get('fwdbwd_ms', '-'):>9} "
                  f"{row.get('max_rel_err', row.get('error', ''))!s:.60}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
