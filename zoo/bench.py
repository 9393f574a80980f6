"""`zoo bench attention|generate`: run the benchmark scripts in tools/ and render their JSON."""
from __future__ import annotations

import argparse
import os
import runpy
import sys

_TOOLS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools")


def attention_markdown(doc: dict) -> str:
    """A markdown table of tools/bench_attention.py's JSON (the README's Speed section uses it)."""
    head = [f"Measured {doc['date']} on {doc['gpu']}, torch {doc['torch']}, triton {doc['triton']}.",
            "", f"Command: `{doc['command']}`", "",
            "| impl | pattern | N | B | density | fwd ms | fwd+bwd ms | useful TFLOP/s fwd+bwd | block TFLOP/s fwd+bwd "
            "| peak GiB | max rel err |", "|---|---|---|---|---|---|---|---|---|---|---|"]

    def f(x, nd=2):
        return "" if x is None else (f"{x:.{nd}f}" if isinstance(x, float) else str(x))
    def err(x):
        return "" if x is None else f"{x:.1e}"
    lines = []
    for r in doc["rows"]:
        if "profile" in r or "profile_error" in r:  # kernel lists go in the notes, not the table
            continue
        if "error" in r:
            lines.append(f"| {r.get('impl')} | {r.get('pattern', '')} | {r.get('N', '')} | | | error: "
                         f"{r['error'][:80].replace('|', '/')} | | | | | |")
            continue
        lines.append(f"| {r['impl']}{' vs ' + r['peer_of'] if r.get('peer_of') else ''} | {r.get('pattern', '')} | "
                     f"{r.get('N', '')} | {r.get('B', '')} | {f(r.get('density'), 4)} | {f(r.get('fwd_ms'))} | "
                     f"{f(r.get('fwdbwd_ms'))} | {f(r.get('useful_tflops_fwdbwd'), 0)} | "
                     f"{f(r.get('block_tflops_fwdbwd'), 0)} | {f(r.get('peak_mem_gib'))} | "
                     f"{err(r.get('max_rel_err'))} |")
    return "\n".join(head + lines) + "\n"


def add_arguments(parser) -> None:
    parser.add_argument("what", choices=["attention", "generate"])
    parser.add_argument("rest", nargs=argparse.REMAINDER, help="arguments passed to tools/bench_<what>.py")


def run(args) -> int:
    script = os.path.join(_TOOLS, f"bench_{args.what}.py")
    if not os.path.exists(script):
        print(f"zoo bench: {script} is missing (run from a source checkout)", file=sys.stderr)
        return 2
    sys.argv = [script] + list(args.rest)
    runpy.run_path(script, run_name="__main__")
    return 0
