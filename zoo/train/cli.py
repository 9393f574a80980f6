"""`zoo train RECIPE [--set key=value ...] [--resume latest] [--dry-run] [--out DIR]`.

The same arguments work under DeepSpeed's launcher (``deepspeed --num_gpus N --module zoo.train
RECIPE``), which adds ``--local_rank``.
"""
from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="recipe YAML (recipes/<dataset>/<model>.yaml)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe key, e.g. --set schedule.lr=3e-4 "
                             "--set model.overrides.depth=2 (repeatable)")
    parser.add_argument("--resume", default=None, metavar="latest|auto|TAG|DIR",
                        help="continue from this run's newest checkpoint ('latest'; 'auto': if there is "
                             "one, else start), a tag, or a checkpoint folder")
    parser.add_argument("--dry-run", action="store_true",
                        help="check recipe, DeepSpeed config, model and data pipeline; train nothing")
    parser.add_argument("--world-size", type=int, default=1, metavar="N",
                        help="with --dry-run: check the batch arithmetic for N GPUs (e.g. 8 across a hostfile)")
    parser.add_argument("--out", default=None, help="run folder (default: recipe.out or runs/<recipe>)")
    parser.add_argument("--stop-at", type=int, default=None, metavar="STEP",
                        help="checkpoint and stop at this step, as a preemption would (resume later)")
    parser.add_argument("--local_rank", "--local-rank", dest="local_rank", type=int, default=None,
                        help=argparse.SUPPRESS)  # set by the deepspeed launcher


def run(args: argparse.Namespace) -> int:
    from .schema import RecipeError, load_recipe

    try:
        recipe = load_recipe(args.recipe, args.overrides)
    except (RecipeError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.dry_run:
        from .dry_run import dry_run

        return dry_run(recipe, out=args.out, world=args.world_size)
    import torch.distributed as dist

    from .engine import train

    try:
        result = train(recipe, out=args.out, resume=args.resume, stop_at=args.stop_at,
                       local_rank=args.local_rank)
    finally:  # the CLI owns the process: without this NCCL warns of a leaked group at exit
        if dist.is_initialized():
            dist.destroy_process_group()
    if result.signal is not None:
        return 128 + result.signal  # the shell's convention for "stopped by a signal"
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="zoo train", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))
