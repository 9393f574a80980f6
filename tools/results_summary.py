"""Headline GPU figures of issue #8 -> benchmarks/results_h200.{json,md}, read from the committed
benchmark files (never typed in). A key is null when its run has not produced a number; the
markdown says why.

    python tools/results_summary.py
"""
from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
B = ROOT / "benchmarks"


def _load(name: str) -> dict:
    p = B / name
    return json.loads(p.read_text()) if p.is_file() else {}


def _train_rows(train: dict, model: str) -> dict[str, dict]:
    """attention -> the newest one-GPU ZeRO-2 row of a model (rows run with a path switched off,
    "env", or a setting the configs no longer use, "control", are A/B controls, not the default)."""
    out = {}
    for r in train.get("rows", []):
        if (r.get("model") == model and r.get("world_size") == 1 and r.get("zero") == 2 and "error" not in r
                and not r.get("env") and not r.get("control")):
            out["dense" if r.get("attention") == "dense" else "sparse"] = r
    return out


def _code(row: dict) -> str:
    """The commit a row ran, and the switches it ran with where they made it the default path
    (``env_at_run``: a switch that was set then and is the default, or the only path, now; or a
    patch of the code then, removed since, that timed equal without it)."""
    env = f" with {row['env_at_run']}" if row.get("env_at_run") else ""
    return f"{str(row.get('git_commit'))[:7]}{env}"


def scaling(train: dict, world: int = 2) -> dict[str, float]:
    """ZeRO stage -> N-GPU tokens/s over N times the 1-GPU tokens/s (same model, attention, length, code)."""
    out = {}
    ok = [r for r in train.get("rows", []) if "error" not in r and r.get("tokens_per_s")]
    for r2 in ok:
        if r2.get("world_size") != world:
            continue
        same = [r for r in ok if r.get("world_size") == 1 and all(
            r.get(k) == r2.get(k)
            for k in ("model", "attention", "seq_len", "zero", "micro_batch", "git_commit"))]  # same code
        if same:
            out[f"zero{r2['zero']}"] = r2["tokens_per_s"] / (world * same[-1]["tokens_per_s"])
    return out


def summary() -> tuple[dict, dict]:
    lo, gen, train, quality, maxlen = (_load(f) for f in ("listops_h200.json", "generate_h200.json", "train_h200.json",
                                                           "quality_h200.json", "maxlen_h200.json"))
    why: dict[str, str] = {}
    res: dict = {k: None for k in ("listops_test_acc", "easyvqa_vqa_acc", "easyvqa_cider_d", "easyvqa_bleu4",
                                   "pixel32_bpd", "pixel64_bpd", "mfu_pixel_base_strided_imagenet64", "mfu_lm_base_16k",
                                   "step_speedup_sparse_vs_dense", "scaling_efficiency_2gpu", "max_seq_len_one_gpu",
                                   "kv_cache_speedup_cifar10")}
    runs: dict[str, list[dict]] = {}
    for r in quality.get("runs", []):
        runs.setdefault(r["name"], []).append(r)
    listops = [(r, lo["budget"] + " (listops_h200.json)") for r in lo.get("results", {}).values()]
    listops += [(r, run["budget"] + " (quality_h200.json)")
                for run in runs.get("listops", []) for r in run["results"].values()]
    if listops:
        best, budget = max(listops, key=lambda rb: rb[0]["eval"]["accuracy"])
        res["listops_test_acc"] = best["eval"]["accuracy"]
        why["listops_test_acc"] = (f"{best['model']}, {budget}; every encoder run: "
                                   + ", ".join(f"{r['model'].split('.')[0]} {r['eval']['accuracy']:.2f}%"
                                               for r, _ in listops))
    for key, name in (("pixel32_bpd", "pixel32"), ("pixel64_bpd", "pixel64")):
        if name in runs:
            run = runs[name][-1]
            res[key] = {p: r["eval"]["bpd"] for p, r in run["results"].items()}
            why[key] = f"{run['what']}; {run['budget']} (quality_h200.json)"
    vqa = [(r, run) for run in runs.get("easyvqa_vqa", []) for r in run["results"].values()]
    if vqa:
        best, run = max(vqa, key=lambda rr: rr[0]["eval"]["vqa_accuracy"])
        res["easyvqa_vqa_acc"] = best["eval"]["vqa_accuracy"]
        setting = f" ({best['setting']})" if best.get("setting") else ""
        why["easyvqa_vqa_acc"] = f"{best['model']}{setting}, {run['budget']} (quality_h200.json)"
    for run in runs.get("easyvqa_caption", [])[-1:]:
        best = max(run["results"].values(), key=lambda r: r["eval"]["cider_d"])
        res["easyvqa_cider_d"], res["easyvqa_bleu4"] = best["eval"]["cider_d"], best["eval"]["bleu4"]
        why["easyvqa_cider_d"] = why["easyvqa_bleu4"] = (f"{best['model']}, {run['budget']}; {run['what']} "
                                                          "(quality_h200.json)")
    for k in ("easyvqa_vqa_acc", "easyvqa_cider_d", "easyvqa_bleu4", "pixel32_bpd", "pixel64_bpd"):
        why.setdefault(k, "not run on the GPU yet")
    for key, model in (("mfu_pixel_base_strided_imagenet64", "pixel_base_strided.imagenet64"),
                       ("mfu_lm_base_16k", "lm_base_longformer.enwik8")):
        rows = _train_rows(train, model)
        if "sparse" in rows:
            res[key] = rows["sparse"]["mfu"]
        same_shape = "sparse" in rows and "dense" in rows and all(
            rows["sparse"].get(k) == rows["dense"].get(k) for k in ("seq_len", "micro_batch"))
        if same_shape:  # a step of another shape is no baseline
            res["step_speedup_sparse_vs_dense"] = res["step_speedup_sparse_vs_dense"] or {}
            res["step_speedup_sparse_vs_dense"][model] = rows["dense"]["step_ms"] / rows["sparse"]["step_ms"]
        dense = ""
        if "dense" in rows:
            d = rows["dense"]
            dense = (f"; dense baseline MFU {d['mfu']:.3f} at {d['step_ms']:.1f} ms/step (code {_code(d)}"
                     + (")" if same_shape
                        else f", micro-batch {d['micro_batch']}: no speedup from another step shape)"))
        compiled = "sparse" in rows and rows["sparse"].get("overrides", {}).get("compile")
        how = ", blocks compiled (compile=True)" if compiled else ""
        how += "".join(f", DeepSpeed {s}" for s in rows.get("sparse", {}).get("ds_set", []))
        why[key] = ("sparse run timed out (see train_h200.json's note)" if "sparse" not in rows else
                    f"{rows['sparse']['seq_len']:,} tokens, micro-batch {rows['sparse']['micro_batch']}{how}, "
                    f"{rows['sparse']['step_ms']:.1f} ms/step (code {_code(rows['sparse'])})") + dense
    why["step_speedup_sparse_vs_dense"] = "dense step time over sparse step time, one GPU, ZeRO-2 (train_h200.json)"
    res["scaling_efficiency_2gpu"] = scaling(train) or None
    why["scaling_efficiency_2gpu"] = ("pixel_base_strided.imagenet64, 12,288 tokens, micro-batch 1 per GPU, against "
                                      "the 1-GPU row of the same code; ZeRO-3 launches were killed while compiling "
                                      "(train_h200.json, not_measured); sessions 4 and 5 were lent one GPU only")
    best: dict[str, dict] = {}  # model -> its longest successful search row
    for r in maxlen.get("rows", []):
        if (r.get("max_seq_len") or 0) > best.get(r["model"], {}).get("max_seq_len", 0):
            best[r["model"]] = r
    res["max_seq_len_one_gpu"] = {m: r["max_seq_len"] for m, r in best.items()} or None
    why["max_seq_len_one_gpu"] = ("lower bounds set by the search's time, not by memory: batch 1, activation "
                                  "checkpointing, ZeRO-2 (maxlen_h200.json: " + "; ".join(
                                      f"{m} {r['max_seq_len']:,} at {r['mem_peak_gib']:.1f} GiB"
                                      for m, r in best.items())
                                  + "); dense not searched") if best else "not run"
    if gen.get("results"):
        g = gen["results"][0]
        res["kv_cache_speedup_cifar10"] = g["speedup"]
        why["kv_cache_speedup_cifar10"] = f"{g['model']}, batch {g['batch']}, {g['method']}"
    return res, why


def main() -> int:
    res, why = summary()
    (B / "results_h200.json").write_text(json.dumps(res, indent=1) + "\n")
    lines = ["# Headline results on the H200 (issue #8)", "", "Generated by `python tools/results_summary.py` from the "
             "other files in this folder.", "", "| key | value | source / why null |", "|---|---|---|"]
    for k, v in res.items():
        val = "null" if v is None else (f"{v:.4g}" if isinstance(v, float) else json.dumps(v))
        lines.append(f"| `{k}` | {val} | {why.get(k, '')} |")
    (B / "results_h200.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
