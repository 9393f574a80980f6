"""`zoo patterns` (the pattern table: class, parameters, complexity) and `zoo viz` (pictures).

    zoo patterns
    zoo viz sliding_window --param left=3 --param right=3 --length 32 -o window.png
    zoo viz strided --param stride=8 --param heads=split --heads 4 --causal --length 64 -o st.png
    zoo viz --compare -o patterns.png
"""
from __future__ import annotations

import argparse
import ast
import sys
from typing import Any

from . import patterns as P


def parse_value(text: str) -> Any:
    """'3' -> 3, '0.5' -> 0.5, 'true'/'True' -> True, '[1, 2]' -> [1, 2], 'split' -> 'split'."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        pass
    import yaml
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def parse_params(items: list[str]) -> dict[str, Any]:
    """['left=3', 'dilation=[1,2]'] -> {'left': 3, 'dilation': [1, 2]}; ValueError naming the bad one."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--param {item!r} must look like NAME=VALUE (e.g. --param left=3)")
        if key in out:
            raise ValueError(f"--param {key} given twice")
        out[key] = parse_value(value.strip())
    return out


def _complexity(cls: type[P.Pattern]) -> str:
    c = cls.complexity
    return c if isinstance(c, str) else "from its parts"  # combinators compute it per instance


class _PatternsCommand:
    """`zoo patterns`: every registered pattern with its class, parameters and complexity."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.description = "List attention patterns: class in the survey's framework, parameters, complexity."

    def run(self, args: argparse.Namespace) -> int:
        from rich.console import Console
        from rich.table import Table
        console = Console()
        if not console.is_terminal:
            console = Console(width=120)
        table = Table(title="attention patterns (every one also takes causal=False)", title_justify="left")
        table.add_column("name", no_wrap=True, style="bold")
        table.add_column("class", no_wrap=True)
        table.add_column("parameters (defaults)")
        table.add_column("complexity", no_wrap=True)
        for name, params in P.available().items():
            cls = P.get_class(name)
            shown = ", ".join(f"{k}={v!r}" for k, v in params.items() if k != "causal") or "-"
            kind = cls.kind + (" (data-dependent)" if cls.data_dependent else "")
            table.add_row(name, kind, shown, _complexity(cls))
        console.print(table)
        return 0


class _VizCommand:
    """`zoo viz`: draw one pattern's token mask, or the comparison panels."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.description = "Draw a pattern's token mask (rows: queries, columns: keys) as an image."
        parser.add_argument("pattern", nargs="?", help="pattern name (see `zoo patterns`)")
        parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                            help="pattern parameter, repeatable (values: int, float, bool, list, string)")
        parser.add_argument("--causal", action="store_true", help="intersect with j <= i")
        parser.add_argument("--length", type=int, default=64, help="sequence length N (default 64)")
        parser.add_argument("--heads", type=int, default=None, help="number of heads (split-head patterns)")
        parser.add_argument("--head", type=int, default=None, help="draw only this head group")
        parser.add_argument("--compare", action="store_true", help="draw the survey's comparison panels")
        parser.add_argument("-o", "--output", required=True, help="image file to write (.png, .pdf, .svg)")
        parser.add_argument("--dpi", type=int, default=120)

    def run(self, args: argparse.Namespace) -> int:
        from . import viz
        try:
            if args.compare:
                if args.pattern or args.param:
                    raise ValueError("--compare draws the fixed comparison panels; give no PATTERN or --param")
                fig = viz.compare_figure(args.length)
            else:
                if not args.pattern:
                    raise ValueError(f"give a PATTERN or --compare; known patterns: {', '.join(sorted(P.available()))}")
                params = parse_params(args.param)
                causal = bool(params.pop("causal", False)) or args.causal
                pattern = P.build(args.pattern, causal=causal, **params)
                fig = viz.draw_mask(pattern, args.length, n_heads=args.heads, head=args.head)
            path = viz.save(fig, args.output, dpi=args.dpi)
        except (ValueError, TypeError) as e:
            print(f"zoo viz: error: {e}", file=sys.stderr)
            return 2
        print(f"wrote {path}")
        return 0


patterns_command = _PatternsCommand()
viz_command = _VizCommand()
