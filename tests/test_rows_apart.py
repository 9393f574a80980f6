"""Rows apart (Pattern.fused_apart): Longformer's global rows, which see every key, leave the fused
BlockMask and run as a pass of their own, so no query tile walks every key block. On CPU through
FlexAttention's unfused path, forward only; gradients are checked on the GPU by
tools/gpu_correctness.py."""
import pytest
import torch

from zoo.attention import build, sparse_attention
from zoo.attention.kernels import flex

pytestmark = pytest.mark.usefixtures("eager_flex")  # conftest.py


def _rel(a, b):
    return ((a - b).abs().max() / b.abs().max().clamp(min=1.0)).item()


def _qkv(n):
    g = torch.Generator().manual_seed(0)
    return [torch.randn(2, 2, n, 16, generator=g) for _ in range(3)]


@pytest.mark.parametrize("n", [67, 8])
@pytest.mark.parametrize("padded", [False, True])
def test_global_rows_apart_match_dense(n, padded):
    p = build("longformer", window=6, global_tokens=5)
    q, k, v = _qkv(n)
    kpm = None
    if padded:
        kpm = torch.ones(2, n, dtype=torch.bool)
        kpm[0, 2:4] = False  # padded keys among the globals and after them
        kpm[0, -3:] = False
        kpm[1] = False  # a fully masked sequence: its rows, global ones too, are zero
    with torch.no_grad():
        out, lse = sparse_attention(q, k, v, p, backend="flex", key_padding_mask=kpm, return_lse=True)
        ref, ref_lse = sparse_attention(q, k, v, p, backend="reference", key_padding_mask=kpm, return_lse=True)
    assert _rel(out, ref) < 1e-5
    real = torch.isfinite(ref_lse)
    assert torch.equal(torch.isfinite(lse), real)
    assert torch.allclose(lse[real], ref_lse[real], atol=1e-4)
    if padded:
        assert torch.equal(out[1], torch.zeros_like(out[1]))


def test_which_rows_go_apart():
    p = build("longformer", window=6, global_tokens=5)
    apart = p.fused_apart(40, 40, 2)
    assert apart.q_pos.tolist() == [0, 1, 2, 3, 4]
    assert p.fused_apart(3, 40, 2) is None  # the last 3 of 40 positions are not global
    assert build("longformer", window=6, global_tokens=5, causal=True).fused_apart(40, 40, 2) is None
    assert build("longformer", window=6, global_tokens=0).fused_apart(40, 40, 2) is None
    assert build("sliding_window").fused_apart(40, 40, 2) is None


def test_switch_off_keeps_the_rows_in_the_mask(monkeypatch):
    """ZOO_NO_ROWS_APART=1 (A/B timing) runs the one BlockMask with the global rows inside; the
    same output either way."""
    p = build("longformer", window=6, global_tokens=5)
    q, k, v = _qkv(40)
    built = []
    structure = flex._fused_structure

    def spy(*args):
        built.append(args[-1])  # skip_rows
        return structure(*args)
    monkeypatch.setattr(flex, "_fused_structure", spy)
    with torch.no_grad():
        apart = sparse_attention(q, k, v, p, backend="flex")
        monkeypatch.setenv("ZOO_NO_ROWS_APART", "1")
        inside = sparse_attention(q, k, v, p, backend="flex")
    assert built == [5, 0]
    assert _rel(apart, inside) < 1e-6
