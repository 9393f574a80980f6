"""Rows apart (Pattern.rows_apart, kernels/split_keys.py): Longformer's global rows, which see every
key, leave the fused BlockMask and run as one call over key chunks merged by log-sum-exp. On CPU
through FlexAttention's unfused path, forward only (gradients: tools/gpu_correctness.py), with
chunks of 8 keys so short sequences split."""
import pytest
import torch

from zoo.attention import build, sparse_attention
from zoo.attention.kernels import flex, split_keys

pytestmark = pytest.mark.usefixtures("eager_flex")  # conftest.py


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr(split_keys, "MIN_CHUNK", 8)


@pytest.fixture
def skipped_rows(monkeypatch):
    """skip_rows of every fused BlockMask built during the test."""
    seen = []
    structure = flex._fused_structure

    def spy(*args):
        seen.append(args[-1])
        return structure(*args)
    monkeypatch.setattr(flex, "_fused_structure", spy)
    return seen


def _rel(a, b):
    return ((a - b).abs().max() / b.abs().max().clamp(min=1.0)).item()


def _qkv(n, layout="bhnd"):
    g = torch.Generator().manual_seed(0)
    if layout == "bhnd":
        return [torch.randn(2, 2, n, 16, generator=g) for _ in range(3)]
    return [torch.randn(2, n, 2, 16, generator=g).transpose(1, 2) for _ in range(3)]  # (B, H, n, D) of (B, n, H, D)


@pytest.mark.parametrize("n,rows", [(64, 5), (67, 0)])  # 67 keys do not split: the rows stay in the mask
@pytest.mark.parametrize("layout", ["bhnd", "bnhd"])
@pytest.mark.parametrize("padded", [False, True])
def test_global_rows_apart_match_dense(skipped_rows, n, rows, layout, padded):
    p = build("longformer", window=6, global_tokens=5)
    q, k, v = _qkv(n, layout)
    kpm = None
    if padded:
        kpm = torch.ones(2, n, dtype=torch.bool)
        kpm[0, 2:4] = False  # padded keys among the globals,
        kpm[0, 8:16] = False  # a whole padded key chunk
        kpm[0, -3:] = False
        kpm[1] = False  # and a fully masked sequence: its rows, global ones too, are zero
    with torch.no_grad():
        out, lse = sparse_attention(q, k, v, p, backend="flex", key_padding_mask=kpm, return_lse=True)
        ref, ref_lse = sparse_attention(q, k, v, p, backend="reference", key_padding_mask=kpm, return_lse=True)
    assert set(skipped_rows) == {rows}  # (a padded call builds the unpadded one too)
    assert _rel(out, ref) < 1e-5
    real = torch.isfinite(ref_lse)
    assert torch.equal(torch.isfinite(lse), real)
    assert torch.allclose(lse[real], ref_lse[real], atol=1e-4)
    if padded:
        assert torch.equal(out[1], torch.zeros_like(out[1]))


def test_which_rows_go_apart():
    p = build("longformer", window=6, global_tokens=5)
    assert p.rows_apart(40, 40) == 5
    assert p.rows_apart(3, 40) == 0  # the last 3 of 40 positions are not global
    assert p.rows_apart(38, 40) == 3  # queries from position 2 on: globals 2, 3, 4
    assert build("longformer", window=6, global_tokens=5, causal=True).rows_apart(40, 40) == 0
    assert build("sliding_window").rows_apart(40, 40) == 0


def test_key_splits_are_powers_of_two_of_whole_chunks():
    assert [split_keys.key_splits(n) for n in (8, 15, 16, 48, 64, 67)] == [1, 1, 2, 4, 8, 1]


@pytest.mark.parametrize("layout", ["bhnd", "bnhd"])
def test_chunks_are_views_of_the_keys(layout):
    q, k, v = _qkv(64, layout)
    qc, kc, vc, by_heads = split_keys.split(q[:, :, :5], k, v, 8)
    assert by_heads == (layout == "bhnd")
    assert kc.data_ptr() == k.data_ptr() and vc.data_ptr() == v.data_ptr()
    assert kc.shape == ((2, 16, 8, 16) if by_heads else (16, 2, 8, 16))
    first = kc[0, 1] if by_heads else kc[1, 0]  # sequence 0, head 0, chunk 1
    assert torch.equal(first, k[0, 0, 8:16])


def test_switch_off_keeps_the_rows_in_the_mask(monkeypatch, skipped_rows):
    """ZOO_NO_ROWS_APART=1 (A/B timing) runs the one BlockMask with the global rows inside; the
    same output either way."""
    p = build("longformer", window=6, global_tokens=5)
    q, k, v = _qkv(64)
    with torch.no_grad():
        apart = sparse_attention(q, k, v, p, backend="flex")
        monkeypatch.setenv("ZOO_NO_ROWS_APART", "1")
        inside = sparse_attention(q, k, v, p, backend="flex")
    assert skipped_rows == [5, 0]
    assert _rel(apart, inside) < 1e-6
