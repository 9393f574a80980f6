"""KV-cache decoding equals full recompute, per family, for static causal patterns."""
import pytest
import torch

import zoo



LM = ["lm_tiny_longformer", "lm_tiny_dilated", "lm_tiny_strided", "lm_tiny_fixed", "lm_tiny_bigbird",
      "lm_tiny_dense"]
PIXEL = ["pixel_tiny_strided", "pixel_tiny_fixed", "pixel_tiny_sliding", "pixel_tiny_dense"]
CAPTIONER = ["captioner_tiny_bigbird", "captioner_tiny_sliding", "captioner_tiny_dense"]


def _incremental_logits(model, tokens, first):
    """Logits of forward_tokens fed one position at a time through the caches."""
    caches = model.backbone.new_caches()
    out = [model.forward_tokens(tokens[:, :first], caches, 0)]
    for t in range(first, tokens.shape[1]):
        out.append(model.forward_tokens(tokens[:, t:t + 1], caches, t))
    return torch.cat(out, dim=1)


@pytest.mark.parametrize("name", LM)
def test_lm_cache_equals_recompute(name):
    torch.manual_seed(0)
    model = zoo.create_model(name).eval()
    batch = model.dummy_inputs(2, seq_len=8)
    with torch.no_grad():
        full = model.forward_tokens(torch.cat([batch["input_ids"], batch["labels"][:, :32]], 1))
        inc = _incremental_logits(model, torch.cat([batch["input_ids"], batch["labels"][:, :32]], 1), 8)
    torch.testing.assert_close(inc, full, rtol=1e-4, atol=1e-5)
    a = model.generate(batch, 24, use_cache=True)
    b = model.generate(batch, 24, use_cache=False)
    assert a.shape == (2, 24) and torch.equal(a, b)


def test_lm_rotary_and_reversible_cache():
    model = zoo.create_model("lm_tiny_longformer", reversible=True, pos="rotary").eval()
    batch = model.dummy_inputs(1, seq_len=5)
    assert torch.equal(model.generate(batch, 12, use_cache=True), model.generate(batch, 12, use_cache=False))
    model = zoo.create_model("lm_tiny_strided", pos="learned").eval()
    assert torch.equal(model.generate(batch, 12, use_cache=True), model.generate(batch, 12, use_cache=False))


def test_lm_sampling_is_reproducible():
    model = zoo.create_model("lm_tiny_bigbird").eval()
    batch = model.dummy_inputs(2, seq_len=4)
    a = model.generate(batch, 16, temperature=1.0, top_k=5, generator=torch.Generator().manual_seed(1))
    b = model.generate(batch, 16, temperature=1.0, top_k=5, use_cache=False,
                       generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)


@pytest.mark.parametrize("name", PIXEL)
def test_pixel_sample_cache_equals_recompute(name):
    torch.manual_seed(0)
    model = zoo.create_model(name, image_size=4).eval()  # 48 sub-pixels
    a = model.sample(2, use_cache=True, temperature=0.0)
    b = model.sample(2, use_cache=False, temperature=0.0)
    assert a.dtype == torch.uint8 and a.shape == (2, 3, 4, 4)
    assert torch.equal(a, b)
    # the greedy sample is a fixed point of teacher forcing: its own argmax everywhere
    with torch.no_grad():
        logits = model(image=a)["logits"]
    from zoo.models.pixel import rasterize
    assert torch.equal(logits.argmax(-1), rasterize(a))


def test_pixel_sampling_top_k_and_temperature():
    model = zoo.create_model("pixel_tiny_strided", image_size=4).eval()
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a = model.sample(2, temperature=1.0, top_k=4, generator=g1)
    b = model.sample(2, temperature=1.0, top_k=4, generator=g2, use_cache=False)
    assert torch.equal(a, b)


@pytest.mark.parametrize("name", CAPTIONER)
def test_captioner_cache_equals_recompute(name):
    torch.manual_seed(0)
    model = zoo.create_model(name).eval()
    batch = model.dummy_inputs(2)
    for beams in (1, 3):
        a = model.generate(batch, 7, use_cache=True, num_beams=beams)
        b = model.generate(batch, 7, use_cache=False, num_beams=beams)
        assert a.shape == (2, 7) and torch.equal(a, b)


def test_captioner_teacher_forcing_matches_decoding():
    """The logits decoding sees equal the training forward's logits on the same tokens."""
    model = zoo.create_model("captioner_tiny_bigbird").eval()
    batch = model.dummy_inputs(2)
    with torch.no_grad():
        ids = model.generate(batch, 7)
        caption = torch.cat([torch.full((2, 1), 49406), ids], dim=1)
        logits = model(image=batch["image"], caption_ids=caption)["logits"]  # (B, 7, V)
    stopped = torch.cumsum(ids == 49407, 1) - (ids == 49407).long() > 0  # positions after <eot> are padding
    assert torch.equal(logits.argmax(-1)[~stopped], ids[~stopped])


def test_beam_search_stops_at_eot():
    model = zoo.create_model("captioner_tiny_dense").eval()
    head = torch.nn.Linear(model.config.dim, 49408)  # a head that always prefers <eot>
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
        head.bias[49407] = 10.0
    model.head = head
    batch = model.dummy_inputs(2)
    for beams in (1, 2):
        ids = model.generate(batch, 7, num_beams=beams)
        assert (ids[:, 0] == 49407).all() and (ids[:, 1:] == 0).all()


def test_zoo_sample_cli_writes_grid(tmp_path, capsys):
    from zoo.cli import main
    model = zoo.create_model("pixel_tiny_fixed", image_size=4)
    ckpt = tmp_path / "pixel.safetensors"
    zoo.save_checkpoint(model, ckpt)
    out = tmp_path / "grid.png"
    assert main(["sample", str(ckpt), "-n", "4", "-o", str(out), "--top-k", "8", "--device", "cpu"]) == 0
    from PIL import Image
    assert Image.open(out).size == (2 * 4 + 3, 2 * 4 + 3)  # 2 x 2 grid of 4 x 4 images, 1-pixel padding
    assert main(["sample", "lm_tiny_dense", "-n", "1", "-o", str(out), "--device", "cpu"]) == 2
