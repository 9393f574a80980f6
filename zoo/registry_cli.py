"""``zoo list [FILTER]`` and ``zoo info NAME``: the registry on the command line."""
from __future__ import annotations

import argparse
import json
import sys

from .registry import UnknownModelError, list_models, model_info


def human(n: int) -> str:
    """1234567 -> '1.23M'."""
    for unit, div in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= div:
            return f"{n / div:.2f}{unit}"
    return str(n)


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    return "\n".join(lines + [fmt.format(*r) for r in rows])


class _List:
    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("filter", nargs="?", default="*", help="wildcard, e.g. '*bigbird*' or 'pixel_*'")
        parser.add_argument("--family", choices=["lm", "encoder", "pixel", "captioner", "vqa"])
        parser.add_argument("--size", choices=["tiny", "small", "base", "large"])
        parser.add_argument("--json", action="store_true", help="print JSON instead of a table")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        pattern = args.filter if any(c in args.filter for c in "*?[") else f"*{args.filter}*"
        names = list_models(pattern, family=args.family, size=args.size)
        infos = [model_info(n) for n in names]
        if args.json:
            print(json.dumps([{k: i[k] for k in ("name", "family", "size", "params", "max_seq_len", "pattern",
                                                 "pattern_params", "modality")} for i in infos], indent=1))
            return 0
        if not names:
            print(f"no model matches {args.filter!r}")
            return 1
        rows = [[i["name"], human(i["params"]), str(i["max_seq_len"]), i["pattern"] + (
            f" ({i['schedule']})" if i["schedule"] != "same" else "")] for i in infos]
        print(_table(rows, ["name", "params", "seq len", "pattern"]))
        print(f"\n{len(names)} models")
        return 0


class _Info:
    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name", help="registered model name (see `zoo list`)")
        parser.add_argument("--json", action="store_true")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        try:
            info = model_info(args.name)
        except UnknownModelError as e:
            print(f"zoo info: {e}", file=sys.stderr)
            return 2
        if args.json:
            print(json.dumps(info, indent=1))
            return 0
        for key in ("name", "architecture", "family", "size", "modality", "params", "max_seq_len", "pattern",
                    "pattern_params", "schedule", "default_recipe"):
            value = f"{info[key]:,} ({human(info[key])})" if key == "params" else info[key]
            print(f"{key:15s} {value}")
        print("layers")
        for line in info["layers"]:
            print(f"  {line}")
        print("config")
        for k, v in info["config"].items():
            print(f"  {k:18s} {v}")
        return 0


list_command = _List()
info_command = _Info()
