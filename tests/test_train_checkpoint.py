"""Checkpoints through the real command (`python -m zoo.train`, DeepSpeed on CPU):

- resume: 20 steps uninterrupted == 10 steps, stop, `--resume latest` to 20 (losses of steps
  11-20, the data position and the final weights, bit for bit; dropout on, data shuffled);
- SIGTERM saves a checkpoint and the resumed run matches an uninterrupted one;
- export round trip: `zoo export` -> `zoo.create_model(name, checkpoint=...)` gives the trained
  model's outputs exactly.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from zoo import cli
from zoo.train import checkpoint as ckpt

ROOT = Path(__file__).resolve().parents[1]
RECIPE = """
model:
  name: vqa_tiny_bigbird
  overrides: {{image_size: 64, patch_size: 16, dropout: 0.1}}
data: {{dataset: easyvqa, kind: vqa, path: {data}, eval_split: test, shuffle: 64}}
schedule: {{steps: {steps}, lr: 3.0e-3, warmup_steps: 3}}
micro_batch: 8
deepspeed: configs/deepspeed/cpu_fp32.json
eval: {{at_end: false}}
checkpoint: {{every: 4, keep: 0}}
log: {{every: 1, progress: false, tensorboard: false}}
"""


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), DS_ACCELERATOR="cpu", OMP_NUM_THREADS="1")
    env.pop("RANK", None)  # a lone process: the engine describes a world of one itself
    return env


def _train(recipe: Path, out: Path, *extra: str, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run([sys.executable, "-m", "zoo.train", str(recipe), "--out", str(out), *extra],
                       cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    if check and p.returncode != 0:
        raise AssertionError(f"zoo.train failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p


def _rows(run: Path) -> list[dict[str, str]]:
    with (run / "train.csv").open() as f:
        return list(csv.DictReader(f))


def _losses(run: Path) -> dict[int, str]:
    return {int(r["step"]): r["loss"] for r in _rows(run)}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from zoo.data.easyvqa import convert

    root = tmp_path_factory.mktemp("ckpt")
    convert(root / "data", 16, progress=False)
    recipe = root / "recipe.yaml"
    recipe.write_text(RECIPE.format(data=root / "data", steps=20))
    full = root / "full"
    _train(recipe, full)
    return root, recipe, full


def test_resume_matches_uninterrupted_run(setup):
    root, recipe, full = setup
    part = root / "part"
    _train(recipe, part, "--stop-at", "10")  # 10 is off the 4-step checkpoint cadence
    assert sorted(_losses(part)) == list(range(1, 11))
    assert ckpt.latest_tag(part / "checkpoints") == ckpt.TAG_FORMAT.format(10)
    _train(recipe, part, "--resume", "latest")
    a, b = _losses(full), _losses(part)
    assert [a[s] for s in range(11, 21)] == [b[s] for s in range(11, 21)]  # exact, as text
    assert float(a[20]) < float(a[1])
    # the data stream's position and the weights are the same too
    ca = ckpt.safe_load(full / "checkpoints" / ckpt.TAG_FORMAT.format(20) / "mp_rank_00_model_states.pt")
    cb = ckpt.safe_load(part / "checkpoints" / ckpt.TAG_FORMAT.format(20) / "mp_rank_00_model_states.pt")
    assert ca["data"] == cb["data"] == {"seed": 0, "segment": 4, "position": 20}
    assert all(torch.equal(ca["module"][k], cb["module"][k]) for k in ca["module"])


def test_bf16_without_zero_resumes_exactly(setup, tmp_path):
    """configs/deepspeed/bf16.json (DeepSpeed's bf16 optimizer, fp32 master weights, no ZeRO)
    checkpoints off its cadence and resumes to the same losses as an uninterrupted run."""
    root, _, _ = setup
    recipe = tmp_path / "bf16.yaml"
    recipe.write_text(RECIPE.format(data=root / "data", steps=8).replace("cpu_fp32.json", "bf16.json"))
    full, part = tmp_path / "full", tmp_path / "part"
    _train(recipe, full)
    _train(recipe, part, "--stop-at", "6")
    _train(recipe, part, "--resume", "latest")
    a, b = _losses(full), _losses(part)
    assert sorted(b) == list(range(1, 9)) and [a[s] for s in (7, 8)] == [b[s] for s in (7, 8)]


def test_sigterm_checkpoints_and_resumes(setup):
    root, _, _ = setup
    recipe = root / "long.yaml"
    recipe.write_text(RECIPE.format(data=root / "data", steps=100_000))
    run = root / "sig"
    proc = subprocess.Popen([sys.executable, "-m", "zoo.train", str(recipe), "--out", str(run)],
                            cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and len(_losses(run) if (run / "train.csv").exists() else {}) < 3:
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, out[-2000:]
    stopped = max(_losses(run))
    assert ckpt.latest_tag(run / "checkpoints") == ckpt.TAG_FORMAT.format(stopped)
    assert "continue with --resume latest" in out
    _train(recipe, run, "--resume", "latest", "--stop-at", str(stopped + 3))
    ref = root / "sig_ref"
    _train(recipe, ref, "--stop-at", str(stopped + 3))
    a, b = _losses(ref), _losses(run)
    assert [a[s] for s in range(stopped + 1, stopped + 4)] == [b[s] for s in range(stopped + 1, stopped + 4)]


def test_export_round_trip(setup, tmp_path):
    from zoo import create_model

    _, _, full = setup
    out = tmp_path / "model.safetensors"
    assert cli.main(["export", str(full), "-o", str(out)]) == 0
    model = create_model("vqa_tiny_bigbird", checkpoint=out)
    # the reference: DeepSpeed's own module states of the last checkpoint, in a fresh model
    tag = full / "checkpoints" / ckpt.TAG_FORMAT.format(20)
    states = ckpt.safe_load(tag / "mp_rank_00_model_states.pt")
    ref = create_model("vqa_tiny_bigbird", image_size=64, patch_size=16, dropout=0.1)
    ref.load_state_dict(states["module"])
    model.eval(), ref.eval()
    batch = ref.dummy_inputs(4)
    with torch.no_grad():
        assert torch.equal(model(**batch)["logits"], ref(**batch)["logits"])
    # without the tag's model.safetensors, export rebuilds it from DeepSpeed's module states
    bare = tmp_path / "bare"
    shutil.copytree(tag, bare)
    (bare / ckpt.EXPORT_NAME).unlink()
    out2 = tmp_path / "model2.safetensors"
    assert cli.main(["export", str(bare), "-o", str(out2)]) == 0
    t1, info1 = ckpt.read_export(out)
    t2, info2 = ckpt.read_export(out2)
    assert info1["model"] == info2["model"] == "vqa_tiny_bigbird" and info1["config"] == info2["config"]
    assert t1.keys() == t2.keys() and all(torch.equal(t1[k], t2[k]) for k in t1)
    with torch.no_grad():
        m2 = create_model("vqa_tiny_bigbird", checkpoint=out2).eval()
        assert torch.equal(m2(**batch)["logits"], ref(**batch)["logits"])


def test_time_budget_ends_the_run_as_finished(setup):
    """schedule.max_minutes stops early, saves, and counts the run as finished (equal wall-clock
    comparisons); the clock starts after the first (compiling) step, so a budget this small ends
    after the second."""
    root, recipe, _ = setup
    run = root / "budget"
    p = _train(recipe, run, "--set", "schedule.max_minutes=0.0001")
    assert "time budget" in p.stdout + p.stderr
    assert sorted(_losses(run)) == [1, 2]
    assert ckpt.latest_tag(run / "checkpoints") == ckpt.TAG_FORMAT.format(2)
    assert (run / "metrics.json").is_file()


def test_time_decay_ends_its_schedule_inside_the_budget(setup):
    """schedule.decay_by=time: a 1,000-step schedule cut by a 3-second budget still decays (a
    step-planned cosine would sit near its peak when the clock stops it)."""
    root, recipe, _ = setup
    run = root / "time_decay"
    p = _train(recipe, run, "--set", "schedule.steps=1000", "--set", "schedule.max_minutes=0.05",
               "--set", "schedule.decay_by=time", "--set", "checkpoint.every=0")
    assert "time budget" in p.stdout + p.stderr
    lrs = [float(r["lr"]) for r in _rows(run)]
    assert 3 < len(lrs) < 1000
    after_warmup = lrs[3:]
    assert all(a >= b for a, b in zip(after_warmup, after_warmup[1:]))
    assert lrs[-1] < 0.5 * 3.0e-3


def test_resume_continues_the_training_clock(setup):
    """The clock (what max_minutes budgets and decay_by=time reads) is in the checkpoint and a
    resumed run adds to it, instead of starting a fresh budget; stopped mid-warmup (warmup 3 steps),
    the warmup's end is set after the resume."""
    root, recipe, _ = setup
    run = root / "clock"
    extra = ("--set", "schedule.steps=8", "--set", "schedule.max_minutes=10", "--set", "schedule.decay_by=time")
    _train(recipe, run, *extra, "--stop-at", "2")
    first = ckpt.module_state_from_checkpoint(run / "checkpoints" / ckpt.TAG_FORMAT.format(2))[1]["clock"]
    _train(recipe, run, *extra, "--resume", "latest")
    last = ckpt.module_state_from_checkpoint(run / "checkpoints" / ckpt.TAG_FORMAT.format(8))[1]["clock"]
    assert first["elapsed_s"] > 0 and first["warmup_end_s"] is None
    assert last["elapsed_s"] > first["elapsed_s"] and last["warmup_end_s"] >= first["elapsed_s"]


def test_resume_with_its_budget_spent_trains_no_further(setup):
    """A run resumed after its max_minutes of training are spent (a preemptible job relaunched with
    --resume auto) trains no step more: the budget counts the checkpoint's training time."""
    root, recipe, _ = setup
    run = root / "spent"
    _train(recipe, run, "--set", "schedule.steps=8", "--stop-at", "4")
    p = _train(recipe, run, "--set", "schedule.steps=8", "--set", "schedule.max_minutes=0.000001",
               "--resume", "latest")
    assert "already spent" in p.stdout + p.stderr
    assert sorted(_losses(run)) == [1, 2, 3, 4]
    assert ckpt.latest_tag(run / "checkpoints") == ckpt.TAG_FORMAT.format(4)


def test_time_budget_rejects_non_positive():
    from zoo.train.schema import RecipeError, ScheduleSpec
    with pytest.raises(RecipeError, match="max_minutes"):
        ScheduleSpec(steps=10, lr=1e-3, max_minutes=0)


def test_compiled_blocks_train_like_eager_and_share_checkpoints(setup):
    """model.overrides.compile=true through the training engine: the same losses as an eager run
    (to float tolerance; dropout off, since compiled dropout draws other masks), an evaluation at
    the end (run eagerly), and checkpoints an eager run resumes from (compiling leaves the
    parameter names alone)."""
    root, recipe, _ = setup
    eager, compiled = root / "eager_nodrop", root / "compiled_nodrop"
    short = ("--set", "model.overrides.dropout=0.0", "--set", "schedule.steps=4")
    _train(recipe, eager, *short, "--set", "checkpoint.every=0")
    _train(recipe, compiled, *short, "--set", "model.overrides.compile=true", "--set", "eval.at_end=true")
    a, b = _losses(eager), _losses(compiled)
    assert sorted(b) == [1, 2, 3, 4] and float(b[4]) < float(b[1])
    assert [float(b[s]) for s in b] == pytest.approx([float(a[s]) for s in b], rel=1e-4)
    assert json.loads((compiled / "metrics.json").read_text())["eval"]["loss"] > 0  # evaluated at the end
    _train(recipe, compiled, "--resume", "latest", "--stop-at", "5")  # eager, from the compiled run's step 4
    # (the recipe's own 20-step schedule: a resume may lengthen the run)
    assert sorted(_losses(compiled)) == [1, 2, 3, 4, 5]
