"""Generation speed with and without the KV cache (issue 4): tokens/s for
``pixel_small_strided.cifar10`` (a full 3,072-sub-pixel image) and ``lm_small_longformer``.

Default (CPU-friendly, about a minute): the cost of one decoding step depends on where in the
sequence it happens, so the step is timed at a few evenly spaced positions (prefix built first,
not timed) and the full-sequence time is estimated as the mean step time x the sequence length.
``--full`` decodes whole sequences end to end instead (use on a GPU; hours on a CPU without cache).

    python tools/bench_generate.py --out benchmarks/generate_cpu.json
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import zoo  # noqa: E402

DEFAULT_MODELS = ["pixel_small_strided.cifar10", "lm_small_longformer"]


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _inputs(model, batch: int, length: int, device: str) -> torch.Tensor:
    """Token inputs of forward_tokens covering positions 0..length-1."""
    vocab = 256
    ids = torch.randint(0, vocab, (batch, length), device=device)
    if model.family == "pixel":
        ids[:, 0] = 256  # the start token
    return ids


@torch.no_grad()
def step_time(model, offset: int, steps: int, batch: int, device: str, use_cache: bool) -> float:
    """Seconds per decoding step at ``offset`` (mean over ``steps`` steps)."""
    ids = _inputs(model, batch, offset + steps + 1, device)
    if use_cache:
        caches = model.backbone.new_caches()
        model.forward_tokens(ids[:, :offset + 1], caches, 0)  # prefill, not timed
        _sync(device)
        t = time.perf_counter()
        for s in range(steps):
            p = offset + 1 + s
            logits = model.forward_tokens(ids[:, p:p + 1], caches, p)[:, -1]
            logits.argmax(-1)
        _sync(device)
    else:
        total = 0.0
        for s in range(steps):  # each length runs twice: the first builds (GPU: compiles) its layout
            model.forward_tokens(ids[:, :offset + 2 + s])
            _sync(device)
            t = time.perf_counter()
            model.forward_tokens(ids[:, :offset + 2 + s])[:, -1].argmax(-1)
            _sync(device)
            total += time.perf_counter() - t
        return total / steps
    return (time.perf_counter() - t) / steps


@torch.no_grad()
def full_time(model, batch: int, device: str, use_cache: bool) -> float:
    _sync(device)
    t = time.perf_counter()
    if model.family == "pixel":
        model.sample(batch, use_cache=use_cache, temperature=1.0)
    else:
        prompt = {"input_ids": _inputs(model, batch, 1, device)}
        model.generate(prompt, model.max_seq_len - 1, use_cache=use_cache, temperature=1.0)
    _sync(device)
    return time.perf_counter() - t


def bench(name: str, args) -> dict:
    model = zoo.create_model(name).to(args.device).eval()
    n = model.max_seq_len
    row = {"model": name, "tokens": n, "batch": args.batch_size, "params": model.num_params()}
    if args.full:
        for key, cache in (("cache", True), ("no_cache", False)):
            secs = full_time(model, args.batch_size, args.device, cache)
            row[f"{key}_seconds"] = secs
            row[f"{key}_tokens_per_s"] = n * args.batch_size / secs
        row["method"] = "full sequence"
    else:
        offsets = [round(i * (n - args.steps - 2) / max(args.positions - 1, 1)) for i in range(args.positions)]
        row["offsets"] = offsets
        for key, cache, steps in (("cache", True, args.steps), ("no_cache", False, args.steps_no_cache)):
            per = [step_time(model, o, steps, args.batch_size, args.device, cache) for o in offsets]
            row[f"{key}_step_seconds"] = per
            secs = sum(per) / len(per) * n
            row[f"{key}_seconds"] = secs  # estimated for the whole sequence
            row[f"{key}_tokens_per_s"] = n * args.batch_size / secs
        row["method"] = f"step time at {args.positions} positions x {n} tokens"
    row["speedup"] = row["no_cache_seconds"] / row["cache_seconds"]
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--positions", type=int, default=4, help="positions at which a step is timed")
    p.add_argument("--steps", type=int, default=32, help="cached steps timed per position")
    p.add_argument("--steps-no-cache", type=int, default=2, help="recompute steps timed per position")
    p.add_argument("--full", action="store_true", help="decode whole sequences end to end")
    p.add_argument("--out", default=None, help="write results as JSON here")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = [bench(name, args) for name in args.models]
    print(f"\n{'model':30s} {'tokens':>7s} {'cache tok/s':>12s} {'no-cache tok/s':>15s} {'speed-up':>9s}")
    for r in rows:
        print(f"{r['model']:30s} {r['tokens']:7d} {r['cache_tokens_per_s']:12.1f} {r['no_cache_tokens_per_s']:15.2f} "
              f"{r['speedup']:8.1f}x")
    result = {"command": " ".join([Path(sys.argv[0]).name] + (argv if argv is not None else sys.argv[1:])),
              "date": datetime.datetime.now().isoformat(timespec="seconds"), "device": args.device,
              "device_name": torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor()
              or platform.machine(), "torch": torch.__version__, "threads": torch.get_num_threads(),
              "results": rows}
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
