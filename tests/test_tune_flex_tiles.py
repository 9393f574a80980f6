"""tools/tune_flex_tiles.py: the cases are the models' own layers at their training shapes, and
every tile variant is one FlexAttention accepts on 128-token blocks (the timing needs a GPU)."""
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import tune_flex_tiles as T  # noqa: E402


def test_cases_are_the_models_layers_at_training_shape():
    cases = T.layer_cases(2)
    assert [(c[0], type(c[1]).__name__, c[2:]) for c in cases] == [
        ("pixel_base_strided.imagenet64", "SlidingWindow", (32, 8, 12288, 64)),
        ("pixel_base_strided.imagenet64", "DilatedWindow", (32, 8, 12288, 64)),
        ("lm_base_longformer.enwik8", "SlidingWindow", (16, 8, 16384, 64)),
        ("lm_base_longformer.enwik8", "DilatedWindow", (16, 8, 16384, 64))]  # its first and last layers' kinds


def test_variants_fit_128_token_blocks():
    for name, opts in T.VARIANTS.items():
        opts = {k.removeprefix("bwd_") if k.startswith("bwd_BLOCK") else k: v for k, v in (opts or {}).items()}
        for key in ("BLOCK_M", "BLOCK_N", "BLOCK_M1", "BLOCK_N1", "BLOCK_M2", "BLOCK_N2"):
            assert 128 % opts.get(key, 128) == 0, (name, key)
        assert opts.get("BLOCK_N1", 128) % opts.get("BLOCK_M1", 64) == 0, name  # the backward's static asserts
        assert opts.get("BLOCK_M2", 128) % opts.get("BLOCK_N2", 64) == 0, name


def test_refuses_without_a_gpu(capsys):
    if torch.cuda.is_available():
        return
    assert T.main(["--out", "/dev/null"]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().err


def test_anchor_cases_are_issue_3s_static_patterns_at_its_shape():
    names = {c[0]: c[2:] for c in T.anchor_cases()}
    assert set(names) == {"anchors:sliding_window", "anchors:dilated_window", "anchors:longformer", "anchors:bigbird"}
    assert set(names.values()) == {(4, 16, 16384, 64)}


def test_variant_names_are_checked_before_any_work(capsys):
    import pytest
    for variants in ("default,no_such_tiles", "all_64"):  # an unknown name; no reference
        with pytest.raises(SystemExit):
            T.main(["--out", "/dev/null", "--variants", variants])
        assert "--variants takes names from" in capsys.readouterr().err
