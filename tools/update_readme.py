"""Regenerate the README's generated blocks (model table, pattern table, GPU results) from the
registry and the committed benchmark files: ``python tools/update_readme.py [--check]``.

Blocks sit between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` markers; --check exits 1
when the README is stale (a test runs it, so the README cannot drift from the code).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))


def models_block() -> str:
    from model_table import table
    return table()


def patterns_block() -> str:
    from zoo.attention import available, patterns
    lines = ["| pattern | class | parameters (defaults) | complexity |", "|---|---|---|---|"]
    for name, params in available().items():
        cls = patterns.get_class(name)
        comp = cls.complexity if isinstance(cls.complexity, str) else "from its parts"
        ps = ", ".join(f"{k}={v!r}" for k, v in params.items())
        lines.append(f"| `{name}` | {cls.kind}{' (data-dependent)' if cls.data_dependent else ''} | {ps} | {comp} |")
    return "\n".join(lines)


def gpu_block() -> str:
    corr = json.loads((ROOT / "benchmarks/attention_correctness_h200.json").read_text())
    rows = [r for run in corr["runs"] for r in run["rows"]]
    lines = [f"GPU correctness of the `flex` backend against the fp64 dense oracle on {corr['gpu']} "
             f"(torch {corr['torch']}; `benchmarks/attention_correctness_h200.json`, commands inside):", "",
             "| pattern | cases | max fwd rel err fp32 / bf16 | max grad rel err fp32 / bf16 | status |",
             "|---|---|---|---|---|"]
    for name in dict.fromkeys(r["pattern"] for r in rows):
        sel = [r for r in rows if r["pattern"] == name]
        ok = [r for r in sel if r["status"] == "ok"]

        def worst(key, dt):
            vals = [r[key] for r in ok if r["dtype"] == dt]
            return f"{max(vals):.1e}" if vals else "–"
        status = "all ok" if len(ok) == len(sel) else f"{len(sel) - len(ok)} failed (compile error, fixed since; not re-run)"
        lines.append(f"| `{name}` | {len(sel)} | {worst('fwd_rel_err', 'float32')} / {worst('fwd_rel_err', 'bfloat16')} | "
                     f"{worst('grad_rel_err', 'float32')} / {worst('grad_rel_err', 'bfloat16')} | {status} |")
    probe = json.loads((ROOT / "benchmarks/attention_h200_probe.json").read_text())
    lines += ["", f"First speed probe ({probe['gpu']}, `benchmarks/attention_h200_probe.json`; "
              f"B x N = 65,536, H = 16, D = 64, bf16):", "",
              "| impl | pattern | N | fwd ms | fwd+bwd ms | useful TFLOP/s fwd+bwd |", "|---|---|---|---|---|---|"]
    for r in probe["rows"]:
        lines.append(f"| {r['impl']} | {r['pattern']} | {r['N']:,} | {r['fwd_ms']:.2f} | {r['fwdbwd_ms']:.2f} | "
                     f"{r['useful_tflops_fwdbwd']:.0f} |")
    return "\n".join(lines)


BLOCKS = {"models": models_block, "patterns": patterns_block, "gpu": gpu_block}


def render(text: str) -> str:
    for name, fn in BLOCKS.items():
        pat = re.compile(rf"(<!-- {name}:start -->\n)(?:.*?\n)?(<!-- {name}:end -->)", re.S)
        if not pat.search(text):
            raise SystemExit(f"README.md lacks the <!-- {name}:start/end --> markers")
        body = fn()
        text = pat.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)
    return text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    path = ROOT / "README.md"
    old = path.read_text()
    new = render(old)
    if args.check:
        if new != old:
            print("README.md is stale: run python tools/update_readme.py")
            return 1
        return 0
    path.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
