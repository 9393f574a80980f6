"""Regenerate the README's generated blocks (model table, pattern table, GPU results),
benchmarks/attention_h200.{md,png}, benchmarks/anchor_vs_lsh.md and benchmarks/flex_tiles_h200.md
from the registry and the committed benchmark files: ``python tools/update_readme.py [--check]``.

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


def _worst(rows, key, dt):
    vals = [r[key] for r in rows if r["dtype"] == dt and r["status"] == "ok"]
    return f"{max(vals):.1e}" if vals else "–"


def correctness_block() -> list[str]:
    corr = json.loads((ROOT / "benchmarks/attention_correctness_h200.json").read_text())
    lines = [f"Correctness of the `flex` backend against the fp64 dense oracle (fp64 reference for lsh/anchor, "
             f"same routing) on {corr['gpu']}, torch {corr['torch']}: causal/bidirectional x N in 1, 7, 128, 257, 1000 "
             f"x padded or not (incl. a fully masked sequence) x fp32/bf16, forward and gradients "
             f"(`benchmarks/attention_correctness_h200.json`, commands inside). Tolerance fp32 1e-4, bf16 1e-2. "
             f"Each dtype's column is the newest run of that pattern on that path, so the two columns can come from "
             f"different runs (numbered from 1 in the JSON's `runs`).", "",
             "| pattern | path | cases | max fwd rel err fp32 / bf16 | max grad rel err fp32 / bf16 | runs fp32 / bf16 "
             "| status |",
             "|---|---|---|---|---|---|---|"]
    run_no = {id(run): i + 1 for i, run in enumerate(corr["runs"])}
    groups: dict = {}  # (pattern, path) -> dtype -> [(run, rows)], oldest run first
    for run in corr["runs"]:
        for r in run["rows"]:
            by_run = groups.setdefault((r["pattern"], r.get("path", run["path"])), {}).setdefault(r["dtype"], {})
            by_run.setdefault(id(run), (run, []))[1].append(r)
    for (name, path), by_dtype in groups.items():
        # per dtype, the newest run of this pattern on this path: a later bf16-only run keeps the fp32 column
        newest = [list(by_run.values())[-1] for by_run in by_dtype.values()]
        runs = " / ".join(str(run_no[id(list(by_dtype[dt].values())[-1][0])]) if dt in by_dtype else "-"
                          for dt in ("float32", "bfloat16"))
        sel = [r for _, rows in newest for r in rows]
        failed = [(run, rows) for run, rows in newest if any(r["status"] != "ok" for r in rows)]
        bad = sum(r["status"] != "ok" for r in sel)
        status = "all ok" if not bad else f"{bad} failed: {failed[0][0].get('short_note', 'see the JSON')}"
        gpus = {run.get("gpu", corr["gpu"]) for run, _ in newest} - {corr["gpu"]}
        status += f" (on an {sorted(gpus)[0]})" if gpus else ""
        lines.append(f"| `{name}` | {path} | {len(sel)} | {_worst(sel, 'fwd_rel_err', 'float32')} / "
                     f"{_worst(sel, 'fwd_rel_err', 'bfloat16')} | {_worst(sel, 'grad_rel_err', 'float32')} / "
                     f"{_worst(sel, 'grad_rel_err', 'bfloat16')} | {runs} | {status} |")
    return lines


def gpu_block() -> str:
    from zoo.bench import peers_summary, speed_summary
    att = json.loads((ROOT / "benchmarks/attention_h200.json").read_text())
    lines = correctness_block()
    lines += ["", "### Speed", "", f"{att['gpu']}, {att['shapes']} (`benchmarks/attention_h200.md`, all runs with "
              "their conditions; `benchmarks/attention_h200.png`). Each row is the newest measurement of the path the "
              "dispatcher takes today, or says which path it is:", "", speed_summary(att), "",
              "Against the Hugging Face modules users would otherwise pick (N = 16,384, forward+backward, B = 1, "
              "hidden 1,024, projections included; transformers " + att["transformers"] + "):", "", peers_summary(att)]
    return "\n".join(lines + training_block())


def training_block() -> list[str]:
    b = ROOT / "benchmarks"
    lo, gen, tr = (json.loads((b / f).read_text())
                   for f in ("listops_h200.json", "generate_h200.json", "train_h200.json"))
    lines = ["", "### Training", "", f"LRA ListOps test accuracy after {lo['budget']} (`benchmarks/listops_h200.json`; "
             "the LRA paper's best row is 37.27%, Reformer; goal >= 40%; two runs shared each GPU with the correctness "
             "matrix's compile workers, so steps per budget are low):", "",
             "| encoder | steps in budget | test accuracy % |", "|---|---|---|"]
    for name, r in sorted(lo["results"].items(), key=lambda kv: -kv[1]["eval"]["accuracy"]):
        lines.append(f"| `{r['model']}` | {r['step']:,} | {r['eval']['accuracy']:.2f} |")
    g = gen["results"][0]
    lines += ["", f"Sampling `{g['model']}` ({g['tokens']:,} tokens, batch {g['batch']}) on the H200: "
              f"{g['cache_tokens_per_s']:,.0f} tokens/s with the KV cache vs "
              f"{g['no_cache_tokens_per_s']:,.0f} recomputing "
              f"({g['speedup']:.1f}x; `benchmarks/generate_h200.json`).", "",
              "DeepSpeed bf16 training steps (`benchmarks/train_h200.json`; model FLOPs per "
              "token = 6 x matmul weights + allowed attention pairs, MFU against 790 TFLOP/s; the first step compiles "
              "the attention kernels and is not timed):", "",
              "| model | attention | tokens | micro-batch per GPU | GPUs | ZeRO | date | first step s | step ms | "
              "tokens/s | model TFLOP/s per GPU | MFU |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in tr["rows"]:
        first = f"{r['warmup_s'][0]:.0f}" if r.get("warmup_s") else ""
        label = r.get("label", r["attention"]) + (" (compiled blocks)" if r.get("overrides", {}).get("compile") else "")
        lines.append(f"| `{r['model']}` | {label} | {r['seq_len']:,} | {r['micro_batch']} | {r['world_size']} | "
                     f"{r['zero']} | {r['date'][:10]} | {first} | {r['step_ms']:.1f} | {r['tokens_per_s']:,.0f} | "
                     f"{r['model_tflops_per_gpu']:.1f} | {r['mfu']:.3f} |")
    for r in tr["not_measured"]:
        lines.append(f"| `{r['model']}` | {r['attention']} | {r['seq_len']:,} | {r.get('micro_batch', 1)} | "
                     f"{r['world_size']} | {r['zero']} | | {r['error']} | | | | |")
    ml = json.loads((b / "maxlen_h200.json").read_text())
    lines += ["", f"Longest trainable sequence on one H200 (`benchmarks/maxlen_h200.json`): {ml['note']}", "",
              "| model | longest length that trained | peak GiB | status |", "|---|---|---|---|"]
    for r in sorted(ml["rows"], key=lambda r: (r["model"], r["max_seq_len"] or 0)):
        lines.append(f"| `{r['model']}` | {r['max_seq_len']:,} | {r['mem_peak_gib']:.1f} | {r['max_len_status']} |")
    return lines + quality_block()


def quality_block() -> list[str]:
    """Issue #8's equal-time quality runs (benchmarks/quality_h200.json), one table per comparison."""
    q = json.loads((ROOT / "benchmarks/quality_h200.json").read_text())
    lines = ["", f"Quality under a short budget (`benchmarks/quality_h200.json`): {q['note']}", ""]
    for run in q["runs"]:
        ms = run.get("metrics", [run["metric"]])
        higher = not run["metric"].startswith("bp")  # bits per dim/char: lower is better
        if not run["results"]:
            lines += [f"{run['what']}; {run['budget']}. Not measured: {run.get('not_measured', 'no result')}.", ""]
            continue
        lines += [f"{run['what']}; {run['budget']}:", "", "| model | steps in budget | "
                  + " | ".join(f"{run['split']} {m}" for m in ms) + " |", "|---|---|" + "---|" * len(ms)]
        for r in sorted(run["results"].values(), key=lambda r: r["eval"][run["metric"]] * (-1 if higher else 1)):
            name = f"`{r['model']}`" + (f" ({r['setting']})" if r.get("setting") else "")
            lines.append(f"| {name} | {r['step']:,} | " + " | ".join(f"{r['eval'][m]:.4g}" for m in ms) + " |")
        if run.get("failed"):
            lines += ["", f"Not in the table: {run['failed']}."]
        lines.append("")
    return lines[:-1]


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
    import anchor_vs_lsh
    import tune_flex_tiles
    from zoo.bench import attention_plot, attention_runs_markdown
    att = json.loads((ROOT / "benchmarks/attention_h200.json").read_text())
    pages = {ROOT / "README.md": render((ROOT / "README.md").read_text()),
             ROOT / "benchmarks/attention_h200.md": attention_runs_markdown(att),
             ROOT / "benchmarks/anchor_vs_lsh.md":  # its GPU section reads attention_h200.json
                 anchor_vs_lsh.markdown(json.loads((ROOT / "benchmarks/anchor_vs_lsh.json").read_text())),
             ROOT / "benchmarks/flex_tiles_h200.md":
                 tune_flex_tiles.markdown(json.loads((ROOT / "benchmarks/flex_tiles_h200.json").read_text()))}
    stale = [p for p, text in pages.items() if not p.is_file() or p.read_text() != text]
    if args.check:
        for p in stale:
            print(f"{p.relative_to(ROOT)} is stale: run python tools/update_readme.py")
        return 1 if stale else 0
    for p in stale:
        p.write_text(pages[p])
    attention_plot(att, str(ROOT / "benchmarks/attention_h200.png"))  # not checked: PNG bytes vary
    return 0


if __name__ == "__main__":
    sys.exit(main())
