"""Recipe schema: unknown or mistyped keys fail with their key path; --set edits; LR schedule."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from zoo import cli
from zoo.train.engine import check_finite, deepspeed_config, lr_lambda
from zoo.train.schema import RecipeError, apply_override, load_recipe

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes/easyvqa/vqa_small_bigbird.yaml"


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "r.yaml"
    p.write_text(text)
    return p


BASE = """
model: {name: vqa_tiny_bigbird}
data: {dataset: easyvqa, kind: vqa, path: data/easyvqa}
schedule: {steps: 10, lr: 1.0e-3}
micro_batch: 4
deepspeed: configs/deepspeed/cpu_fp32.json
"""


def test_misspelled_key_names_its_path(tmp_path):
    p = _write(tmp_path, BASE.replace("lr: 1.0e-3", "lr: 1.0e-3, warmup_step: 5"))
    with pytest.raises(RecipeError) as e:
        load_recipe(p)
    msg = str(e.value)
    assert "recipe.schedule.warmup_step: unknown key" in msg
    assert "did you mean 'warmup_steps'" in msg and "allowed keys: steps, lr, warmup_steps" in msg


def test_misspelled_top_level_and_nested_keys(tmp_path):
    with pytest.raises(RecipeError, match=r"recipe\.micro_bacth: unknown key"):
        load_recipe(_write(tmp_path, BASE + "micro_bacth: 3\n"))
    with pytest.raises(RecipeError, match=r"recipe\.eval\.metric: unknown key.*'metrics'"):
        load_recipe(_write(tmp_path, BASE + "eval: {metric: [loss]}\n"))


def test_mistyped_and_missing_keys(tmp_path):
    with pytest.raises(RecipeError, match=r"recipe\.schedule\.steps: expected an integer, got str 'ten'"):
        load_recipe(_write(tmp_path, BASE.replace("steps: 10", "steps: ten")))
    with pytest.raises(RecipeError, match=r"recipe\.micro_batch: required key is missing"):
        load_recipe(_write(tmp_path, BASE.replace("micro_batch: 4\n", "")))
    with pytest.raises(RecipeError, match=r"recipe\.schedule\.decay: 'cosin' is not one of"):
        load_recipe(_write(tmp_path, BASE.replace("lr: 1.0e-3", "lr: 1.0e-3, decay: cosin")))
    with pytest.raises(RecipeError, match=r"recipe\.eval\.metrics\[1\]: expected a string"):
        load_recipe(_write(tmp_path, BASE + "eval: {metrics: [loss, 3]}\n"))


def test_set_overrides_are_parsed_as_yaml():
    r = load_recipe(RECIPE, ["schedule.lr=3e-4", "model.overrides.depth=2", "eval.metrics=[loss]",
                             "log.progress=false"])
    assert r.schedule.lr == 3e-4 and r.model.overrides["depth"] == 2
    assert r.eval.metrics == ["loss"] and r.log.progress is False
    assert r.name == "easyvqa/vqa_small_bigbird"
    with pytest.raises(RecipeError, match=r"recipe\.schedule\.lrr: unknown key"):
        load_recipe(RECIPE, ["schedule.lrr=1"])
    with pytest.raises(RecipeError, match="expected key=value"):
        apply_override({}, "schedule.lr")


def test_cli_reports_the_key_path(tmp_path, capsys):
    p = _write(tmp_path, BASE.replace("micro_batch: 4", "micro_batch: 4\ncheckpoint: {evry: 5}"))
    assert cli.main(["train", str(p), "--dry-run"]) == 2
    assert "recipe.checkpoint.evry: unknown key (did you mean 'every'?)" in capsys.readouterr().err


def test_deepspeed_config_filled_from_recipe(tmp_path):
    r = load_recipe(RECIPE, ["micro_batch=8", "grad_accum=3", "schedule.grad_clip=0.5",
                             "deepspeed=configs/deepspeed/zero2.json"])
    cfg = deepspeed_config(r, world=2)
    assert cfg["train_micro_batch_size_per_gpu"] == 8 and cfg["gradient_accumulation_steps"] == 3
    assert cfg["train_batch_size"] == 48 and cfg["gradient_clipping"] == 0.5
    assert cfg["zero_optimization"]["stage"] == 2 and not any(k.startswith("_") for k in cfg)
    bad = tmp_path / "noclip.json"
    bad.write_text('{"zero_optimization": {"stage": 2}}')
    with pytest.raises(ValueError, match="gradient_clipping explicitly"):
        deepspeed_config(load_recipe(RECIPE, [f"deepspeed={bad}"]), world=1)


def test_lr_schedule_warmup_then_cosine_to_floor():
    r = load_recipe(RECIPE, ["schedule.steps=100", "schedule.warmup_steps=10", "schedule.min_lr_ratio=0.1"])
    f = lr_lambda(r)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0) and f(55) == pytest.approx(0.55)
    assert f(100) == pytest.approx(0.1) and all(f(t) >= f(t + 1) for t in range(10, 100))


def test_check_finite_stops_runs_whose_gradients_stopped_being_numbers():
    """bf16 with the overflow check off (our configs) and fp32 stop on a non-finite loss or
    gradient norm (DeepSpeed reports an invalid norm as -1); fp16 and bf16 with the check on skip
    such steps themselves, so a finite loss with an invalid norm continues there."""
    ours, checked = {"bf16": {"enabled": True, "check_grad_overflow": False}}, {"bf16": {"enabled": True}}
    fp16, fp32 = {"fp16": {"enabled": True}}, {}
    for cfg in (ours, checked, fp16, fp32):
        check_finite(3, 1.5, 0.7, cfg)
        check_finite(3, 1.5, None, cfg)
    for cfg in (ours, fp32):
        for norm in (-1.0, math.inf, math.nan):
            with pytest.raises(FloatingPointError, match="gradient norm is .* at step 3"):
                check_finite(3, 1.5, norm, cfg)
    for cfg in (checked, fp16):
        check_finite(3, 1.5, -1.0, cfg)
    for cfg in (ours, checked, fp32):
        with pytest.raises(FloatingPointError, match="loss is nan at step 3"):
            check_finite(3, math.nan, 0.7, cfg)
    check_finite(3, math.nan, 0.7, fp16)
    for path in (ROOT / "configs" / "deepspeed").glob("*bf16*.json"):
        assert json.loads(path.read_text())["bf16"] == ours["bf16"], path.name
