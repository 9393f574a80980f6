"""`make demo` in miniature: `python -m zoo.demo --quick` converts easy-VQA, trains both recipes
through the engine (a few steps, tiny width), evaluates on the test split and writes the report,
the sample sheet and the attention picture. (The full demo's numbers are checked by running it.)"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_demo_quick(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), DS_ACCELERATOR="cpu", MPLBACKEND="Agg")
    env.pop("RANK", None)
    p = subprocess.run([sys.executable, "-m", "zoo.demo", "--out", str(tmp_path / "demo"), "--quick",
                        "--no-progress"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    out = tmp_path / "demo"
    report = json.loads((out / "report.json").read_text())
    for key in ("vqa_accuracy", "majority_baseline", "bleu4", "cider_d", "wall_seconds", "model"):
        assert key in report, key
    assert report["model"] == {"vqa": "vqa_small_bigbird.easyvqa", "captioner": "captioner_small_bigbird.easyvqa"}
    assert 0 <= report["vqa_accuracy"] <= 100 and 0 < report["majority_baseline"] < 100
    assert report["test_questions"] > 0 and report["test_images"] > 0
    assert "bigbird" in report["patterns"]["vqa"] and "prefix_lm" in report["patterns"]["captioner"]
    md = (out / "report.md").read_text()
    assert "majority-answer baseline" in md and "samples.png" in md and "attention.png" in md
    for png in ("samples.png", "attention.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # trained through the real engine: runs with recipes, checkpoints and exports
    for task in ("vqa", "captioner"):
        assert (out / task / "recipe.yaml").is_file() and (out / task / "model.safetensors").is_file()
        records = json.loads((out / task / "eval_records.json").read_text())  # scoreable elsewhere
        assert records and all(("caption" if task == "captioner" else "prediction") in r for r in records.values())
