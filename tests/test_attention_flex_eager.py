"""The flex backend's block structure and mask_mods on CPU through FlexAttention's unfused path
(forward only: FlexAttention has no CPU backward). The fused kernels run on the GPU
(tools/gpu_correctness.py); this catches layout bugs in CI."""
import pytest
import torch

from zoo.attention import build, sparse_attention
from zoo.attention.kernels import flex

from attention_cases import static_patterns, with_causal


@pytest.fixture(autouse=True)
def eager_flex(monkeypatch):
    monkeypatch.setenv("ZOO_FLEX_EAGER", "1")
    flex._compiled.cache_clear()
    yield
    flex._compiled.cache_clear()


def _rel(a, b):
    return ((a - b).abs().max() / b.abs().max().clamp(min=1.0)).item()


CASES = {**static_patterns(), "lsh": build("lsh", bucket_size=8, n_hashes=2, chunk=8),
         "anchor": build("anchor", n_anchors=4, chunk=8, window=4)}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("causal", [False, True])
def test_flex_layout_matches_reference(name, causal):
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


@pytest.mark.parametrize("name", ["longformer", "bigbird"])
def test_split_global_rows_matches_reference(name, monkeypatch):
    """Opt-in fast path: global rows as plain matmuls, the rest as one block mask (padding too)."""
    monkeypatch.setenv("ZOO_SPLIT_GLOBAL_ROWS", "1")
    p = CASES[name]
    n = 70
    g = p.global_rows()
    assert g > 0 and bool(p.token_mask(n)[0, :g].all())  # those rows really see every key
    gen = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, 2, n, 16, generator=gen, dtype=torch.float64) for _ in range(3))
    kpm = torch.ones(2, n, dtype=torch.bool)
    kpm[1, -11:] = False
    with torch.no_grad():  # FlexAttention has no CPU backward; the split rows' gradients: below
        for mask in (None, kpm):
            out, lse = sparse_attention(q, k, v, p, backend="flex", key_padding_mask=mask, return_lse=True)
            ref, ref_lse = sparse_attention(q, k, v, p, backend="reference", key_padding_mask=mask, return_lse=True)
            assert _rel(out, ref) < 1e-10 and _rel(lse, ref_lse) < 1e-6  # flex keeps its lse in fp32


def test_dense_rows_forward_and_gradients():
    from zoo.attention.kernels.flex import _dense_rows
    gen = torch.Generator().manual_seed(4)
    q, k, v = (torch.randn(2, 2, n, 8, generator=gen, dtype=torch.float64).requires_grad_() for n in (3, 40, 40))
    kpm = torch.ones(2, 40, dtype=torch.bool)
    kpm[0, 5:] = False
    kpm[1] = False  # a fully padded sequence: zeros, no NaN
    out, lse = _dense_rows(q, k, v, kpm, 0.3)
    s = (q @ k.transpose(-1, -2) * 0.3).masked_fill(~kpm[:, None, None, :], float("-inf"))
    ref = torch.nan_to_num(torch.softmax(s, -1)) @ v
    assert _rel(out.double(), ref) < 1e-6 and bool(torch.isinf(lse[1]).all()) and torch.equal(out[1], torch.zeros_like(out[1]))
    ga = torch.autograd.grad(out.square().sum(), (q, k, v))
    gb = torch.autograd.grad(ref.square().sum(), (q, k, v))
    assert max(_rel(a.double(), b) for a, b in zip(ga, gb)) < 1e-6 and all(bool(torch.isfinite(a).all()) for a in ga)
