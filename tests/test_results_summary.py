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
    res, _ = results_summary.summary()
    runs = json.loads((ROOT / "benchmarks/listops_h200.json").read_text())["results"]
    assert res["listops_test_acc"] == max(r["eval"]["accuracy"] for r in runs.values())
