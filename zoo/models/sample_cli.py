"""``zoo sample NAME_OR_CHECKPOINT -n 16 -o grid.png``: sample images from a pixel model and
write them as a grid (torchvision ``save_image``)."""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="registered pixel model name, or a .safetensors checkpoint")
    parser.add_argument("-n", "--num", type=int, default=16, help="number of images")
    parser.add_argument("-o", "--out", default="grid.png", help="output image grid (png)")
    parser.add_argument("--temperature", type=float, default=1.0, help="0 = greedy")
    parser.add_argument("--top-k", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-cache", action="store_true", help="recompute every step (slow; for checks)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=64, help="images sampled at once")
    parser.add_argument("--nrow", type=int, default=None, help="images per grid row (default: square)")


def _load(spec: str):
    from ..registry import create_model, is_model, load_checkpoint
    if Path(spec).is_file():
        return load_checkpoint(spec)
    if not is_model(spec):
        create_model(spec)  # raises with the closest names
    print(f"zoo sample: {spec} is a registry name: sampling from UNTRAINED weights", file=sys.stderr)
    return create_model(spec)


def run(args: argparse.Namespace) -> int:
    from torchvision.utils import save_image
    model = _load(args.model)
    if not hasattr(model, "sample"):
        print(f"zoo sample: {type(model).__name__} is not a pixel model (no sample())", file=sys.stderr)
        return 2
    model = model.to(args.device).eval()
    gen = torch.Generator(device=args.device).manual_seed(args.seed)
    t0, images = time.time(), []
    for start in range(0, args.num, args.batch_size):
        n = min(args.batch_size, args.num - start)
        images.append(model.sample(n, use_cache=not args.no_cache, temperature=args.temperature,
                                   top_k=args.top_k, generator=gen).cpu())
    grid = torch.cat(images)
    nrow = args.nrow or max(1, math.isqrt(args.num))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    save_image(grid.float() / 255.0, args.out, nrow=nrow, padding=1)
    secs = time.time() - t0
    tokens = grid[0].numel() * args.num
    print(f"wrote {args.num} samples to {args.out} ({secs:.1f}s, {tokens / secs:.0f} sub-pixels/s)")
    return 0
