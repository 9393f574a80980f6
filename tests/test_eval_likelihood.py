"""bits/dim and bits/char: exact sums, raster order, padding, and the sliding context."""
import math

import pytest
import torch
from torch import nn

from zoo.eval import (bits_per_char, bits_per_dim, evaluate_lm, evaluate_lm_sliding,
                      evaluate_pixels, pixel_nll, rasterize, sliding_windows, token_nll)
from zoo.eval.distributed import merge_records
from zoo.eval.likelihood import lm_summary, sliding_records


class UniformPixels(nn.Module):
    """Fixture: a pixel model whose every sub-pixel distribution is uniform over 256 values."""

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, image, **_):
        b = image.shape[0]
        return {"logits": torch.zeros(b, image[0].numel(), 256) + 0 * self.dummy}


class CausalMeanLM(nn.Module):
    """Fixture: causal byte LM with unbounded context (running mean of embeddings)."""

    def __init__(self, d=16):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.emb = nn.Parameter(torch.randn(256, d, generator=g))
        self.out = nn.Parameter(torch.randn(d, 256, generator=g))

    def forward(self, input_ids, **_):
        h = self.emb[input_ids].cumsum(1)  # (B, N, d)
        h = h / torch.arange(1, input_ids.shape[1] + 1)[None, :, None]
        return {"logits": 3 * torch.tanh(h) @ self.out}


class CausalConvLM(nn.Module):
    """Fixture: causal byte LM that sees exactly the last `k` bytes (receptive field k)."""

    def __init__(self, k=3, d=16):
        super().__init__()
        torch.manual_seed(0)
        self.k = k
        self.emb = nn.Embedding(256, d)
        self.conv = nn.Conv1d(d, d, k)
        self.out = nn.Linear(d, 256)

    def forward(self, input_ids, **_):
        h = self.emb(input_ids).transpose(1, 2)  # (B, d, N)
        h = self.conv(nn.functional.pad(h, (self.k - 1, 0)))
        return {"logits": self.out(torch.tanh(h.transpose(1, 2)))}


def _text(n, seed=0):
    return bytes(torch.randint(0, 256, (n,), generator=torch.Generator().manual_seed(seed)).tolist())


def test_uniform_pixel_model_is_exactly_8_bits_per_dim():
    g = torch.Generator().manual_seed(0)
    batches = [{"image": torch.randint(0, 256, (b, 3, 8, 8), generator=g, dtype=torch.uint8)}
               for b in (4, 3)]  # a short last batch
    r = evaluate_pixels(UniformPixels(), batches)
    assert r["bits_per_dim"] == 8.0  # float64 log-softmax + fsum: exact, not approximately
    assert r["bits_per_dim_per_channel"] == pytest.approx({"R": 8.0, "G": 8.0, "B": 8.0},
                                                          abs=1e-12)
    assert r["images"] == 7 and r["dims"] == 7 * 3 * 8 * 8


def test_raster_order_is_row_column_channel():
    img = torch.arange(2 * 3 * 2 * 2, dtype=torch.uint8).view(2, 3, 2, 2)
    r = rasterize(img)
    assert r.shape == (2, 12)
    assert r[0, :6].tolist() == [img[0, 0, 0, 0], img[0, 1, 0, 0], img[0, 2, 0, 0],
                                 img[0, 0, 0, 1], img[0, 1, 0, 1], img[0, 2, 0, 1]]
    # Logits certain of the raster targets, but only on the red channel.
    logits = torch.zeros(2, 12, 256)
    logits.scatter_(2, r[..., None], 100.0)
    logits[:, 1::3] = 0.0  # G uniform
    logits[:, 2::3] = 0.0  # B uniform
    nll = pixel_nll(logits, img)  # (B, C) nats
    per_dim = nll.sum(0) / (2 * 4) / math.log(2)
    assert per_dim.tolist() == pytest.approx([0.0, 8.0, 8.0], abs=1e-9)


def test_unit_conversions_and_token_nll():
    assert bits_per_dim(10 * math.log(2), 10) == pytest.approx(1.0)
    assert bits_per_char(0.0, 5) == 0.0
    with pytest.raises(ValueError):
        bits_per_char(1.0, 0)
    nll, n = token_nll(torch.zeros(2, 5, 256), torch.tensor([[1, 2, 3, -100, -100]] * 2))
    assert n == 6 and float(nll) == pytest.approx(6 * math.log(256))


@pytest.mark.parametrize("length, context, stride", [
    (2, 4, 1), (10, 4, 2), (10, 4, 4), (10, 20, 3), (101, 16, 5), (101, 16, 16), (64, 63, 1),
])
def test_sliding_windows_score_every_target_once(length, context, stride):
    n = min(context, length - 1)
    scored = []
    for i, (begin, first) in enumerate(sliding_windows(length, context, stride)):
        assert 0 <= begin and begin + n <= length - 1  # inputs and targets stay in the text
        for off in range(first, n):
            scored.append(begin + 1 + off)  # target index
            if i > 0:  # every target after the first window sees >= n - stride + 1 bytes
                assert off + 1 >= n - stride + 1
    assert sorted(scored) == list(range(1, length))


def test_sliding_equals_whole_sequence_when_context_covers_the_text():
    model, text = CausalMeanLM(), _text(50)
    x = torch.tensor(list(text))
    whole = evaluate_lm(model, [{"input_ids": x[None, :-1], "labels": x[None, 1:]}])
    for context, stride in ((49, 7), (64, 64)):
        slid = evaluate_lm_sliding(model, text, context=context, stride=stride)
        assert slid["chars"] == whole["chars"] == 49
        assert slid["bits_per_char"] == pytest.approx(whole["bits_per_char"], rel=1e-12)


def test_overlapping_windows_match_whole_sequence_for_a_bounded_context_model():
    model, text = CausalConvLM(k=3), _text(300, seed=1)
    x = torch.tensor(list(text))
    whole = evaluate_lm(model, [{"input_ids": x[None, :-1], "labels": x[None, 1:]}])
    slid = evaluate_lm_sliding(model, text, context=32, stride=8, batch_size=4)
    assert slid["chars"] == 299
    assert slid["bits_per_char"] == pytest.approx(whole["bits_per_char"], rel=1e-6)
    # Non-overlapping chunks lose context at every chunk start: a different (worse-context) sum.
    chunks = evaluate_lm_sliding(model, text, context=32, stride=32)
    assert chunks["chars"] == 299 and chunks["nll_nats"] != pytest.approx(whole["nll_nats"])


def test_padding_labels_are_excluded():
    model, text = CausalMeanLM(), _text(40, seed=2)
    x = torch.tensor(list(text))
    ref = evaluate_lm(model, [{"input_ids": x[None, :20], "labels": x[None, 1:21]},
                              {"input_ids": x[None, 20:30], "labels": x[None, 21:31]}])
    ids = torch.zeros(2, 20, dtype=torch.long)
    labels = torch.full((2, 20), -100)
    ids[0], labels[0] = x[:20], x[1:21]
    ids[1, :10], labels[1, :10] = x[20:30], x[21:31]  # right-padded: causal, so harmless
    padded = evaluate_lm(model, [{"input_ids": ids, "labels": labels}])
    assert padded["chars"] == ref["chars"] == 30
    assert padded["nll_nats"] == pytest.approx(ref["nll_nats"], rel=1e-12)


def test_windows_split_over_ranks_add_up_to_one_process():
    model, text = CausalConvLM(k=2), _text(200, seed=3)
    one = sliding_records(model, text, context=24, stride=10)
    parts = [sliding_records(model, text, context=24, stride=10, rank=r, world_size=3)
             for r in range(3)]
    merged = merge_records(parts)
    assert merged.keys() == one.keys()
    assert lm_summary(merged)["bits_per_char"] == pytest.approx(lm_summary(one)["bits_per_char"])
    with pytest.raises(ValueError, match="more than one rank"):
        merge_records([parts[0], parts[0]])
