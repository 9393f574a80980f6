"""Registry: listing, creation with overrides, metadata, unknown names, checkpoints, CLI."""
import dataclasses

import pytest
import torch

import zoo
from zoo.registry import UnknownModelError, split_name



ALL = zoo.list_models()


def _pattern_names(p):
    """Every core pattern family inside a (possibly composite) pattern."""
    out = {p.name}
    for f in dataclasses.fields(p):
        v = getattr(p, f.name)
        kids = v if isinstance(v, tuple) else (v,)
        for k in kids:
            if hasattr(k, "token_mask") and hasattr(k, "name"):
                out |= _pattern_names(k)
    return out


def test_at_least_25_models_spanning_families_and_patterns():
    assert len(ALL) >= 25
    families = {split_name(n)["family"] for n in ALL}
    assert families == {"lm", "encoder", "pixel", "captioner", "vqa"}
    used = set()
    for n in ALL:
        with torch.device("meta"):
            used |= set().union(*(_pattern_names(p) for p in zoo.create_model(n).patterns))
    core = {"dense", "sliding_window", "dilated_window", "longformer", "bigbird", "strided", "fixed", "lsh",
            "anchor"}
    assert core <= used, core - used


def test_names_follow_the_convention():
    for n in ALL:
        parts = split_name(n)
        assert parts["size"] in ("tiny", "small", "base", "large")
    for n in ["pixel_small_strided.cifar10", "pixel_base_strided.imagenet64", "lm_small_longformer",
              "encoder_small_longformer.listops", "captioner_small_bigbird.easyvqa", "vqa_base_longformer.vqav2"]:
        assert n in ALL


def test_wildcards_family_and_natural_sort():
    bigbird = zoo.list_models("*bigbird*")
    assert bigbird and all("bigbird" in n for n in bigbird)
    assert zoo.list_models(family="pixel") == [n for n in ALL if n.startswith("pixel_")]
    assert zoo.list_models(["lm_tiny_*", "pixel_tiny_*"]) == sorted(zoo.list_models(["lm_tiny_*", "pixel_tiny_*"]))
    assert zoo.list_models("*", exclude="*tiny*") == [n for n in ALL if "tiny" not in n]
    from zoo.registry import _natural_key
    assert sorted(["m_2", "m_10", "m_1"], key=_natural_key) == ["m_1", "m_2", "m_10"]


def test_unknown_name_suggests_three_closest():
    with pytest.raises(UnknownModelError) as err:
        zoo.create_model("pixel_smal_strided.cifar10")
    msg = str(err.value)
    assert "pixel_small_strided.cifar10" in msg and msg.count(",") >= 2
    with pytest.raises(ValueError):
        zoo.model_info("nope")


def test_overrides_none_dropped_and_bad_keys_raise():
    m = zoo.create_model("lm_tiny_dense", dim=48, depth=3, dropout=None)
    assert (m.config.dim, m.config.depth, m.config.dropout) == (48, 3, 0.0)
    assert len(m.backbone.blocks) == 3
    with pytest.raises(TypeError, match="allowed: .*dim"):
        zoo.create_model("lm_tiny_dense", dimm=48)
    # a new pattern starts from its own defaults; params of the same pattern merge
    m = zoo.create_model("lm_tiny_longformer", pattern="strided", pattern_params={"stride": 8})
    assert m.config.schedule == "same" and {p.name for p in m.patterns} == {"strided"}
    m = zoo.create_model("pixel_tiny_fixed", pattern_params={"summary": 2})
    assert m.patterns[0].summary == 2 and m.patterns[0].stride == 24
    with pytest.raises(ValueError):
        zoo.create_model("lm_tiny_dense", pattern="no_such_pattern")


def test_model_info_fields():
    info = zoo.model_info("pixel_small_strided.cifar10")
    assert info["family"] == "pixel" and info["size"] == "small" and info["modality"] == "image"
    assert info["max_seq_len"] == 3072 and info["pattern"] == "strided"
    assert info["pattern_params"]["stride"] == 96  # one row of the raster: 3 x 32
    assert info["default_recipe"] == "recipes/cifar10/pixel_small_strided.yaml"
    assert zoo.model_info("pixel_small_strided.imagenet64")["max_seq_len"] == 12288
    assert zoo.model_info("pixel_small_strided.imagenet64")["pattern_params"]["stride"] == 192
    assert zoo.model_info("encoder_small_longformer.listops")["max_seq_len"] == 2000
    info["params"] = -1  # callers get a copy
    assert zoo.model_info("pixel_small_strided.cifar10")["params"] > 0


@pytest.mark.parametrize("name", zoo.list_models(size="tiny") + ["pixel_small_strided.cifar10",
                                                                  "lm_small_lsh.enwik8"])
def test_model_info_params_equal_real_count(name):
    model = zoo.create_model(name)
    assert zoo.model_info(name)["params"] == sum(p.numel() for p in model.parameters())


def test_register_model_decorator():
    from zoo.registry import _MODELS

    @zoo.register_model
    def lm_tiny_testonly__unit(**kw):
        return zoo.create_model("lm_tiny_dense", **kw)
    try:
        assert "lm_tiny_testonly.unit" in zoo.list_models("*testonly*")
        with pytest.raises(ValueError):
            zoo.register_model("not-a-valid-name")(lambda **kw: None)
    finally:
        _MODELS.pop("lm_tiny_testonly.unit", None)


def test_checkpoint_round_trip(tmp_path):
    model = zoo.create_model("captioner_tiny_bigbird", depth=1)  # tied embeddings, non-default config
    path = tmp_path / "m.safetensors"
    zoo.save_checkpoint(model, path)
    loaded = zoo.load_checkpoint(path)
    assert loaded.config == model.config and loaded.model_name == "captioner_tiny_bigbird"
    for (n, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), n
    again = zoo.create_model("captioner_tiny_bigbird", checkpoint=path)
    assert again.config.depth == 1
    with pytest.raises(ValueError, match="holds"):
        zoo.create_model("captioner_tiny_dense", checkpoint=path)
    # an export of a plain state dict stores tied weights under both names: loads too
    import json
    from safetensors.torch import save_file
    plain = tmp_path / "plain.safetensors"
    save_file({k: v.clone() for k, v in model.state_dict().items()}, str(plain),
              metadata={"model_name": "captioner_tiny_bigbird", "config": json.dumps(dataclasses.asdict(model.config))})
    again = zoo.load_checkpoint(plain)
    assert again.head.weight is again.tok_embed.weight
    assert torch.equal(again.head.weight, model.head.weight)
    with pytest.raises(ValueError, match="not a zoo checkpoint"):
        save_file({"x": torch.zeros(1)}, str(tmp_path / "bare.safetensors"))
        zoo.load_checkpoint(tmp_path / "bare.safetensors")


def test_cli_list_and_info(capsys):
    from zoo.cli import main
    assert main(["list", "pixel_tiny"]) == 0
    out = capsys.readouterr().out
    assert "pixel_tiny_strided" in out and "4 models" in out
    assert main(["info", "lm_tiny_longformer"]) == 0
    out = capsys.readouterr().out
    assert "sliding_window" in out and "layers" in out
    assert main(["info", "lm_tiny_longfromer"]) == 2
    assert "lm_tiny_longformer" in capsys.readouterr().err


def test_listops_vocabulary_matches_the_data_pipeline():
    from zoo.data.listops import PAD_ID, VOCAB
    from zoo.models.text import LISTOPS_VOCAB
    assert LISTOPS_VOCAB == len(VOCAB) and PAD_ID == 0
    assert zoo.model_info("encoder_small_longformer.listops")["config"]["vocab_size"] == len(VOCAB)
