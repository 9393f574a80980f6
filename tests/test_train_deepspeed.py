"""Two-process DeepSpeed training on CPU (gloo, DS_ACCELERATOR=cpu) with ZeRO-2, through
DeepSpeed's own launcher and `--module zoo.train` (which passes --local_rank): the loss goes down
and both ranks end with bit-identical weights; then one process resumes the two-rank checkpoint
(ZeRO partitions re-split through DeepSpeed's universal checkpoint). And one process of ZeRO-3
with every weight partitioned: the split q/k/v projection trains like the fused one."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dist_env import free_port, one_rank_env
from zoo.train import checkpoint as ckpt

ROOT = Path(__file__).resolve().parents[1]
RECIPE = """
model:
  name: vqa_tiny_bigbird
  overrides: {{image_size: 64, patch_size: 16}}
data: {{dataset: easyvqa, kind: vqa, path: {data}, eval_split: test, shuffle: 64}}
schedule: {{steps: 16, lr: 5.0e-3, warmup_steps: 2}}
micro_batch: 8
deepspeed: configs/deepspeed/zero2.json
eval: {{metrics: [loss, accuracy, vqa_accuracy]}}
checkpoint: {{every: 8}}
log: {{every: 1, progress: false}}
"""


def test_two_process_zero2(tmp_path):
    from zoo.data.easyvqa import convert

    convert(tmp_path / "data", 16, progress=False)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE.format(data=tmp_path / "data"))
    run = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(PYTHONPATH=str(ROOT), DS_ACCELERATOR="cpu", OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "deepspeed.launcher.runner", "--num_gpus", "2", "--master_port",
           str(free_port()), "--module", "zoo.train", str(recipe), "--out", str(run)]
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["step"] == 16
    assert metrics["replicas"] == {"identical": True, "max_abs_diff": 0.0, "ranks": 2}
    rows = (run / "train.csv").read_text().splitlines()[1:]
    losses = [float(r.split(",")[1]) for r in rows]
    assert len(losses) == 16 and sum(losses[-4:]) / 4 < sum(losses[:4]) / 4 - 0.2, losses
    # ZeRO-2 checkpoint: one optimizer partition per rank, full weights exported once
    tag = run / "checkpoints" / ckpt.TAG_FORMAT.format(16)
    assert sorted(x.name for x in tag.glob("zero_pp_rank_*_optim_states.pt")) == [
        "zero_pp_rank_0_mp_rank_00_optim_states.pt", "zero_pp_rank_1_mp_rank_00_optim_states.pt"]
    assert (run / "model.safetensors").is_file()
    # the eval split was dealt to the ranks and merged without double counting
    assert metrics["eval"]["n_samples"] > 0 and 0 <= metrics["eval"]["vqa_accuracy"] <= 100
    # a change of world size: one process resumes the two-rank checkpoint and trains on
    recipe.write_text(RECIPE.format(data=tmp_path / "data").replace("steps: 16", "steps: 20"))
    p = subprocess.run([sys.executable, "-m", "zoo.train", str(recipe), "--out", str(run), "--resume", "latest"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "written by 2 ranks, converted to a universal checkpoint for 1" in p.stdout + p.stderr
    assert (run / "checkpoints" / (ckpt.TAG_FORMAT.format(16) + ckpt.UNIVERSAL_SUFFIX) / "zero").is_dir()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["world_size"] == 1 and metrics["step"] == 20
    rows = (run / "train.csv").read_text().splitlines()[1:]
    resumed = {int(r.split(",")[0]): float(r.split(",")[1]) for r in rows}
    assert sorted(resumed)[-4:] == [17, 18, 19, 20]
    assert resumed[17] < sum(losses[:4]) / 4 - 0.2, resumed  # it continued from the trained weights


ZERO3_STEPS = """
import os, sys, torch
import deepspeed
from zoo.registry import create_model
torch.manual_seed(0)
m = create_model("lm_tiny_longformer")
cfg = {"train_micro_batch_size_per_gpu": 2, "gradient_accumulation_steps": 1, "gradient_clipping": 1.0,
       "zero_optimization": {"stage": 3, "stage3_param_persistence_threshold": 0},  # partition every weight
       "bf16": {"enabled": True, "check_grad_overflow": False}, "zero_allow_untested_optimizer": True}
eng, *_ = deepspeed.initialize(model=m, optimizer=torch.optim.AdamW(m.parameters(), lr=1e-3), config=cfg)
batch = m.dummy_inputs(batch_size=2)
for _ in range(3):
    out = eng(**batch)
    eng.backward(out["loss"])
    eng.step()
    print("loss", float(out["loss"]))
assert m.backbone.blocks[0].attn.qkv.weight.numel() == 0  # partitioned outside the forward
"""


def test_zero3_trains_the_split_qkv_projection_like_the_fused_one():
    """q/k/v read the projection's weight outside its own forward (projection.py): ZeRO-3 must
    still gather it (DeepSpeed's parameter dict fetches on access). Same losses as the fused
    projection, every weight partitioned."""
    losses = []
    for fused in ("0", "1"):
        env = one_rank_env(ZOO_FUSED_QKV=fused)
        run = subprocess.run([sys.executable, "-c", ZERO3_STEPS], env=env, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-3000:]
        losses.append([float(line.split()[1]) for line in run.stdout.splitlines() if line.startswith("loss ")])
    assert len(losses[0]) == 3 and losses[0][-1] < losses[0][0]
    for a, b in zip(*losses):
        assert abs(a - b) < 1e-3, losses
