"""`zoo data ...`: convert real dataset files into webdataset shards, and show what a shard
folder holds.

    zoo data convert cifar10 --src cifar-10-batches-py --out data/cifar10
    zoo data convert easyvqa --out data/easyvqa --limit 100
    zoo data info data/cifar10

`zoo.cli` mounts this as its `data` subcommand through `add_arguments(parser)` and `run(args)`.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any, Callable

DATASETS = ("cifar10", "imagenet64", "enwik8", "text8", "pydoc", "pystdlib", "coco", "vqav2", "easyvqa", "listops")
NO_SOURCE = ("easyvqa", "listops", "pydoc", "pystdlib")  # shipped by a package or Python / generated


def _converter(name: str) -> Callable[..., dict[str, Any]]:
    """Import lazily: `zoo --help` should not pay for numpy/webdataset/PIL."""
    if name == "cifar10":
        from .cifar10 import convert
    elif name == "imagenet64":
        from .imagenet64 import convert
    elif name in ("enwik8", "text8", "pydoc", "pystdlib"):
        from .text import convert as text_convert

        return lambda src, out, limit, **kw: text_convert(src, out, name, limit, **kw)
    elif name == "coco":
        from .coco import convert
    elif name == "vqav2":
        from .vqav2 import convert
    elif name == "easyvqa":
        from .easyvqa import convert as ev_convert

        return lambda src, out, limit, **kw: ev_convert(out, limit, **kw)
    elif name == "listops":
        from .listops import convert as lo_convert

        return lambda src, out, limit, **kw: lo_convert(out, limit, **kw)
    else:
        raise ValueError(f"unknown dataset {name!r}; choose from {DATASETS}")
    return convert


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add `convert` and `info` subcommands to `parser` (the `zoo data` parser)."""
    sub = parser.add_subparsers(dest="data_command", metavar="{convert,info}")
    sub.required = True
    conv = sub.add_parser("convert", help="convert a dataset's real files into webdataset shards",
                          description="Real formats in, webdataset shards + index.json out. "
                                      "easyvqa, listops, pydoc and pystdlib need no --src.")
    conv.add_argument("dataset", choices=DATASETS)
    conv.add_argument("--src", type=Path, help="the downloaded dataset files (not for easyvqa, listops, pydoc, pystdlib)")
    conv.add_argument("--out", type=Path, required=True, help="output folder for shards + index.json")
    conv.add_argument("--limit", type=int, default=None,
                      help="at most N samples per split (quick trials, tests)")
    conv.add_argument("--no-progress", action="store_true", help="no progress bar")
    info = sub.add_parser("info", help="summarise a shard folder's index.json")
    info.add_argument("folder", type=Path)


def run(args: argparse.Namespace) -> int:
    """Execute `zoo data ...`; returns the exit code (2 = missing or bad source files)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.data_command == "info":
        from .shards import print_summary, read_index

        try:
            print_summary(read_index(args.folder), args.folder)
        except (FileNotFoundError, ValueError) as exn:
            print(f"error: {exn}", file=sys.stderr)
            return 2
        return 0
    if args.limit is not None and args.limit < 1:
        print("error: --limit must be >= 1", file=sys.stderr)
        return 2
    if args.dataset not in NO_SOURCE and args.src is None:
        print(f"error: {args.dataset} needs --src (the folder with its downloaded files)",
              file=sys.stderr)
        return 2
    if args.dataset in NO_SOURCE and args.src is not None:
        print(f"note: {args.dataset} needs no --src; ignoring {args.src}", file=sys.stderr)
    convert = _converter(args.dataset)
    try:
        src = None if args.dataset in NO_SOURCE else args.src
        convert(src, args.out, args.limit, progress=False if args.no_progress else None)
    except FileNotFoundError as exn:
        print(f"error: {exn}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (`python -m zoo.data.cli convert ...`) until zoo.cli mounts it."""
    parser = argparse.ArgumentParser(prog="zoo data")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
