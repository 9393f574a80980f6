"""`zoo patterns` and `zoo viz`, run in-process through zoo.cli.main."""
from __future__ import annotations

import pytest
import torch
from PIL import Image

from zoo.attention import patterns as P
from zoo.attention import viz
from zoo.attention.cli import parse_params
from zoo.cli import main


def _check_png(path, min_side=100):
    assert path.exists() and path.stat().st_size > 0
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert min(im.size) >= min_side


def test_viz_sliding_window_writes_png(tmp_path, capsys):
    out = tmp_path / "tmp.png"
    rc = main(["viz", "sliding_window", "--param", "left=3", "--param", "right=3", "--length", "32", "-o", str(out)])
    assert rc == 0
    _check_png(out)
    assert str(out) in capsys.readouterr().out


def test_viz_compare_writes_png(tmp_path):
    out = tmp_path / "sub" / "compare.png"
    assert main(["viz", "--compare", "-o", str(out)]) == 0
    _check_png(out, min_side=800)


def test_patterns_lists_every_name(capsys):
    assert main(["patterns"]) == 0
    text = capsys.readouterr().out
    for name, params in P.available().items():
        assert name in text
        assert P.get_class(name).kind in text
    assert "O(N sqrt N)" in text and "O(N log N)" in text


def test_unknown_pattern_lists_known_names(tmp_path, capsys):
    rc = main(["viz", "no_such_pattern", "--length", "16", "-o", str(tmp_path / "x.png")])
    assert rc != 0
    err = capsys.readouterr().err
    assert "no_such_pattern" in err
    for name in P.available():
        assert name in err
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("param, word", [("lft=3", "lft"), ("left=-1", "left"), ("left", "left")])
def test_bad_param_names_it(tmp_path, capsys, param, word):
    rc = main(["viz", "sliding_window", "--param", param, "-o", str(tmp_path / "x.png")])
    assert rc == 2
    assert word in capsys.readouterr().err


def test_parse_params_types():
    got = parse_params(["a=3", "b=0.5", "c=true", "d=False", "e=[1, 2]", "f=split", "g=[1,2,4]"])
    assert got == {"a": 3, "b": 0.5, "c": True, "d": False, "e": [1, 2], "f": "split", "g": [1, 2, 4]}


def test_causal_split_heads_and_head_choice(tmp_path):
    out = tmp_path / "strided.png"
    rc = main(["viz", "strided", "--param", "stride=8", "--param", "heads=split", "--heads", "4",
               "--causal", "--length", "32", "--head", "1", "-o", str(out)])
    assert rc == 0
    _check_png(out)


def test_lsh_draws_on_random_inputs(tmp_path):
    """Routed by routing.py when it can, else the labelled hash fallback: either way a picture."""
    mask, note = viz.pattern_mask(P.build("lsh", bucket_size=8, chunk=8, n_hashes=1), 32)
    assert mask.shape[-2:] == (32, 32) and note
    assert 0 < mask.double().mean() < 1
    assert main(["viz", "lsh", "--param", "bucket_size=8", "--param", "chunk=8", "--length", "32",
                 "-o", str(tmp_path / "lsh.png")]) == 0


def test_lsh_fallback_when_routing_is_missing(monkeypatch):
    def missing(self, q, k, **state):
        raise NotImplementedError
    monkeypatch.setattr(type(P.build("lsh")), "route", missing)
    mask, note = viz.pattern_mask(P.build("lsh", bucket_size=8, chunk=8, n_hashes=1), 32)
    assert "illustrative" in note
    c = torch.arange(32) // 8
    back = c[:, None] - c[None, :]
    assert torch.equal(mask[0], ((back == 0) | (back == 1)) & ~torch.eye(32, dtype=torch.bool))


def test_lsh_sorted_picture_is_the_chunk_band():
    """Reformer after sorting: own + previous chunk, no self (routing.py's stated semantics)."""
    mask, _ = viz.pattern_mask(P.build("lsh", bucket_size=8, chunk=8, n_hashes=1), 64)
    c = torch.arange(64) // 8
    back = c[:, None] - c[None, :]
    assert torch.equal(mask[0], ((back == 0) | (back == 1)) & ~torch.eye(64, dtype=torch.bool))


def test_draw_mask_matches_token_mask():
    p = P.build("bigbird", block=4, window_blocks=3, global_blocks=1, random_blocks=1)
    mask, _ = viz.pattern_mask(p, 32)
    assert torch.equal(mask, p.token_mask(32))
    fig = viz.draw_mask(p, 32)
    img = fig.axes[0].images[0].get_array()
    assert img.shape[:2] == (32, 32)
    assert "hybrid" in fig.axes[0].get_title() and "density" in fig.axes[0].get_title()
