"""`zoo train RECIPE --dry-run --world-size N` checks the batch arithmetic of a multi-GPU launch."""
import pytest

from zoo.train.dry_run import dry_run
from zoo.train.schema import load_recipe


def test_dry_run_reports_global_batch_for_eight_gpus(capsys, tmp_path):
    recipe = load_recipe("recipes/imagenet64/pixel_small_strided.yaml",
                         ["deepspeed=configs/deepspeed/zero3_bf16.json", f"data.path={tmp_path}"])
    dry_run(recipe, world=8)  # no shards here: it stops after the config checks
    expected = recipe.micro_batch * recipe.grad_accum * 8
    assert f"x 8 GPU(s) = {expected} sequences per optimizer step" in capsys.readouterr().out


def test_dry_run_rejects_a_bad_world_size():
    recipe = load_recipe("recipes/imagenet64/pixel_small_strided.yaml", [])
    with pytest.raises(ValueError, match="world size"):
        dry_run(recipe, world=0)
