"""Every recipe parses, names a registered model that builds at full size, and dry-runs (schema,
DeepSpeed JSON, model, data pipeline, one forward) against tiny shards of its dataset written in
the real format by zoo.data.fixtures -- never downloaded."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from zoo import cli
from zoo.registry import create_model, is_model
from zoo.train.engine import deepspeed_config
from zoo.train.schema import load_recipe

ROOT = Path(__file__).resolve().parents[1]
# training recipes live in one folder per dataset (recipes/distill/ holds `zoo distill`'s own)
FAMILIES = {"cifar10": "pixel_*_strided", "imagenet64": "pixel_*_strided", "enwik8": "lm_*",
            "listops": "encoder_*", "listops_pretrain": "encoder_*", "listops_finetune": "encoder_*", "easyvqa": "*", "easyvqa32": "pixel_small_*", "easyvqa64": "pixel_small_*", "coco": "captioner_*", "vqav2": "vqa_*"}
RECIPES = sorted(p.relative_to(ROOT).as_posix() for d in FAMILIES for p in (ROOT / "recipes" / d).glob("*.yaml"))
# tiny width/depth: the class, pattern and data geometry stay those of the recipe's model
TINY = ["model.overrides.dim=32", "model.overrides.depth=2", "model.overrides.num_heads=4",
        "model.overrides.grad_checkpointing=false"]
TINY_BY_DATASET = {  # by recipe folder
    "enwik8": ["model.overrides.max_seq_len=512"],
    # dense attention over 12,288 sub-pixels is slow on CPU: the same recipes at 16x16
    "easyvqa64": ["model.overrides.image_size=16", "data.options.image_size=16"],
    # its checkpoint is the pretraining recipe's output (tests/test_train_checkpoint.py runs the pair)
    "listops_finetune": ["model.checkpoint=null", "model.reinit=[]"]}


def test_every_dataset_has_recipes():
    import fnmatch

    for d, pattern in FAMILIES.items():
        names = [Path(r).stem for r in RECIPES if Path(r).parent.name == d]
        assert names and all(fnmatch.fnmatch(n, pattern) for n in names), (d, names)
    for name in ("lm_small_longformer", "lm_small_lsh", "lm_small_fixed"):
        assert f"recipes/enwik8/{name}.yaml" in RECIPES
    for pat in ("bigbird", "longformer", "lsh", "anchor", "dense"):
        assert f"recipes/listops/encoder_small_{pat}.yaml" in RECIPES


@pytest.mark.parametrize("path", RECIPES)
def test_recipe_parses_and_full_model_builds(path):
    recipe = load_recipe(ROOT / path)
    text = (ROOT / path).read_text()
    assert text.startswith("#") and "Targets" in text, "each recipe says what hardware/time it targets"
    assert is_model(recipe.model.name), f"{path}: {recipe.model.name} is not registered"
    assert recipe.model.name.split(".")[0] == Path(path).stem, "file name = model name without tag"
    with torch.device("meta"):  # full size, no memory: the overrides must be valid
        create_model(recipe.model.name, **recipe.model.overrides)
    cfg = deepspeed_config(recipe, world=8)
    assert "gradient_clipping" in cfg and cfg["train_batch_size"] == recipe.micro_batch * recipe.grad_accum * 8


def test_deepspeed_configs_set_gradient_clipping():
    configs = sorted((ROOT / "configs/deepspeed").glob("*.json"))
    names = {p.stem for p in configs}
    assert {"zero1", "zero2", "zero3", "zero3_offload", "zero2_bf16", "zero2_fp16", "cpu_fp32"} <= names
    for p in configs:
        assert "gradient_clipping" in json.loads(p.read_text()), p.name


# --- tiny shards in the real formats ----------------------------------------------------------------


def _convert(dataset: str, root: Path) -> Path:
    from zoo.data import fixtures

    src, out = root / "src", root / "shards"
    if dataset == "cifar10":
        from zoo.data.cifar10 import convert

        fixtures.write_cifar10(src)
        convert(src / "cifar-10-batches-py" if (src / "cifar-10-batches-py").is_dir() else src, out)
    elif dataset == "imagenet64":
        from zoo.data.imagenet64 import convert

        fixtures.write_imagenet64(src)
        convert(src, out)
    elif dataset == "enwik8":
        from zoo.data.text import convert

        fixtures.write_text(src, "enwik8")
        convert(src, out, "enwik8", chunk_size=4096)
    elif dataset == "coco":
        from zoo.data.coco import convert

        fixtures.write_coco(src)
        convert(src, out)
    elif dataset == "vqav2":
        from zoo.data.vqav2 import convert

        fixtures.write_vqav2(src)
        convert(src, out)
    elif dataset == "easyvqa":
        from zoo.data.easyvqa import convert

        convert(out, 8)
    elif dataset == "listops":
        from zoo.data.listops import convert

        convert(out, 4)
    else:
        raise KeyError(dataset)
    return out


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    cache: dict[str, Path] = {}

    def get(dataset: str) -> Path:
        if dataset not in cache:
            cache[dataset] = _convert(dataset, tmp_path_factory.mktemp(dataset))
        return cache[dataset]

    return get


@pytest.mark.parametrize("path", RECIPES)
def test_recipe_dry_run(path, shards, capsys):
    recipe = load_recipe(ROOT / path)
    data = shards(recipe.data.dataset)
    sets = [f"data.path={data}", "data.workers=0"] + TINY + TINY_BY_DATASET.get(Path(path).parent.name, [])
    argv = ["train", str(ROOT / path), "--dry-run"] + [a for s in sets for a in ("--set", s)]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "forward: logits" in out and f"model {recipe.model.name}" in out


def test_dry_run_without_shards_says_how_to_convert(tmp_path, capsys):
    argv = ["train", str(ROOT / "recipes/listops/encoder_small_dense.yaml"), "--dry-run",
            "--set", f"data.path={tmp_path}/none"] + [a for s in TINY for a in ("--set", s)]
    assert cli.main(argv) == 1
    assert "zoo data convert listops" in capsys.readouterr().err
