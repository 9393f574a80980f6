"""The `zoo` command. Each subcommand lives with the room that owns it and exposes
``add_arguments(parser)`` and ``run(args) -> int``; this file only wires them together."""
from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, help)
COMMANDS = {
    "list": ("zoo.registry_cli", "list registered models"),
    "info": ("zoo.registry_cli", "show one model's details"),
    "patterns": ("zoo.attention.cli", "list attention patterns (class, parameters, complexity)"),
    "viz": ("zoo.attention.cli", "draw a pattern's token mask"),
    "bench": ("zoo.bench", "benchmarks (attention, generation)"),
    "data": ("zoo.data.cli", "convert datasets to webdataset shards"),
    "train": ("zoo.train.cli", "train a recipe"),
    "eval": ("zoo.eval.cli", "evaluate a checkpoint or model"),
    "sample": ("zoo.models.sample_cli", "sample images from a pixel model"),
    "export": ("zoo.train.export", "export a checkpoint to safetensors"),
    "distill": ("zoo.distill", "dense teacher -> sparse student"),
}


def _module(name: str):
    mod_name = COMMANDS[name][0]
    mod = importlib.import_module(mod_name)
    return getattr(mod, f"{name}_command", mod)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="zoo", description="long-sequence sparse Transformers")
    sub = parser.add_subparsers(dest="command", required=True)
    wanted = argv[0] if argv and argv[0] in COMMANDS else None
    for name, (_, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_)
        if name == wanted:  # import only the room we run, so one broken room cannot break the rest
            _module(name).add_arguments(p)
    args, rest = parser.parse_known_args(argv)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return int(_module(args.command).run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
