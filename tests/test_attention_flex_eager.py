"""The flex backend's block structure and mask_mods on CPU through FlexAttention's unfused path
(forward only: FlexAttention has no CPU backward). The fused kernels run on the GPU
(tools/gpu_correctness.py); this catches layout bugs in CI."""
import pytest
import torch

from zoo.attention import build, sparse_attention
from zoo.attention.patterns import runs_fused

from attention_cases import static_patterns, with_causal


pytestmark = pytest.mark.usefixtures("eager_flex")  # conftest.py


def _rel(a, b):
    return ((a - b).abs().max() / b.abs().max().clamp(min=1.0)).item()


CASES = {**static_patterns(), "lsh": build("lsh", bucket_size=8, n_hashes=2, chunk=8),
         "anchor": build("anchor", n_anchors=4, chunk=8, window=4)}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("causal", [False, True])
def test_flex_layout_matches_reference(monkeypatch, name, causal):
    monkeypatch.delenv("ZOO_FLEX_BLOCK", raising=False)
    p = with_causal(CASES[name], causal)
    g = torch.Generator().manual_seed(7)
    q, k, v = (torch.randn(2, 2, 70, 16, generator=g) for _ in range(3))
    kpm = torch.ones(2, 70, dtype=torch.bool)
    kpm[0, -9:] = False
    kpm[1, :3] = False
    with torch.no_grad():
        for mask in (None, kpm):
            out = sparse_attention(q, k, v, p, backend="flex", key_padding_mask=mask)
            ref = sparse_attention(q, k, v, p, backend="reference", key_padding_mask=mask)
            assert _rel(out, ref) < 1e-5


@pytest.mark.parametrize("name", [n for n, p in CASES.items() if runs_fused(p)])
def test_fused_patterns_on_64_token_blocks_match_reference(monkeypatch, name):
    """ZOO_FLEX_BLOCK=64 reaches the fused call: its BlockMask has 64-token blocks (the last one
    partial; per-head patterns too), and the result is the pattern's, causal or not, with
    padding. (The eager path reads the mask_mod only; test_flops checks the block lists against the
    dense truth per tile.)"""
    from zoo.attention.kernels import flex
    monkeypatch.setenv("ZOO_FLEX_BLOCK", "64")
    blocks, real = [], flex._run
    monkeypatch.setattr(flex, "_run", lambda q, k, v, bm, *a: blocks.append(bm.BLOCK_SIZE) or real(q, k, v, bm, *a))
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, 2, 151, 16, generator=g) for _ in range(3))  # odd: dilation 2 fuses too
    kpm = torch.ones(2, 151, dtype=torch.bool)
    kpm[0, -20:] = False
    for causal in (False, True):
        p = with_causal(CASES[name], causal)
        with torch.no_grad():
            for mask in (None, kpm):
                out = sparse_attention(q, k, v, p, backend="flex", key_padding_mask=mask)
                ref = sparse_attention(q, k, v, p, backend="reference", key_padding_mask=mask)
                assert _rel(out, ref) < 1e-5, (causal, mask is not None)
    assert blocks and set(blocks) == {(64, 64)}  # (dense without padding runs SDPA: no call)


def test_flex_layout_with_global_mask():
    p = build("longformer", window=6, global_tokens=0)
    gm = torch.zeros(2, 50, dtype=torch.bool)
    gm[0, [0, 7, 33]] = True
    gm[1, 12] = True
    q, k, v = (torch.randn(2, 2, 50, 16) for _ in range(3))
    with torch.no_grad():
        out = sparse_attention(q, k, v, p, backend="flex", global_mask=gm)
        ref = sparse_attention(q, k, v, p, backend="dense", global_mask=gm)
    assert _rel(out, ref) < 1e-5


