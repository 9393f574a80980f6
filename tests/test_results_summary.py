"""benchmarks/results_h200.{json,md} are derived from the other benchmark files, never typed in."""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import results_summary  # noqa: E402


def test_committed_summary_matches_its_sources():
    res, why = results_summary.summary()
    assert json.loads((ROOT / "benchmarks/results_h200.json").read_text()) == res
    for key, value in res.items():
        assert value is not None or why.get(key), f"{key} is null without a reason"


def test_listops_headline_is_the_best_run():
    """The best ListOps run of either file: listops_h200.json or quality_h200.json's "listops" runs."""
    res, _ = results_summary.summary()
    runs = list(json.loads((ROOT / "benchmarks/listops_h200.json").read_text())["results"].values())
    runs += [r for run in json.loads((ROOT / "benchmarks/quality_h200.json").read_text())["runs"]
             if run["name"] == "listops" for r in run["results"].values()]
    assert len(runs) > 4 and res["listops_test_acc"] == max(r["eval"]["accuracy"] for r in runs)


def test_scaling_report_matches_its_sources():
    """benchmarks/scaling.json (issue #9) is derived: its measured rows and launch plans are what the
    train rows and the recipes say today, and every plan's global batch is per-GPU x accum x GPUs."""
    import scaling_report
    doc = scaling_report.report()
    committed = json.loads((ROOT / "benchmarks/scaling.json").read_text())
    for key in ("measured", "efficiency", "not_measured", "launch_plans"):
        assert committed[key] == json.loads(json.dumps(doc[key])), key
    for r in doc["launch_plans"]:
        assert r["global_batch"] == r["micro_batch"] * r["grad_accum"] * r["world_size"]
    assert {r["world_size"] for r in doc["launch_plans"]} == {4, 8}


def test_step_speedup_needs_the_same_step_shape(monkeypatch):
    """Sparse over dense only for rows of the same length and micro-batch; env and control rows never count."""
    def row(attn, mb, ms, **kw):
        return dict(model="pixel_base_strided.imagenet64", attention=attn, world_size=1, zero=2, seq_len=12288,
                    micro_batch=mb, step_ms=ms, mfu=0.3, **kw)
    train = {"rows": [row("strided", 8, 100.0), row("dense", 8, 200.0), row("strided", 8, 50.0, env="ZOO_X=1"),
                      row("strided", 8, 40.0, control="a setting the configs do not use")]}
    real = results_summary._load
    monkeypatch.setattr(results_summary, "_load", lambda name: train if name == "train_h200.json" else real(name))
    res, _ = results_summary.summary()
    assert res["step_speedup_sparse_vs_dense"] == {"pixel_base_strided.imagenet64": 2.0}
    train["rows"].append(row("strided", 16, 150.0))
    res, _ = results_summary.summary()
    assert res["step_speedup_sparse_vs_dense"] is None and res["mfu_pixel_base_strided_imagenet64"] == 0.3
