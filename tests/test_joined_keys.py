"""Sparse Transformer fixed as one FlexAttention call over its natural keys and copies of its summary
columns (kernels/joined.py): the joined mask evaluated densely on (q, [k; k[pos]]) against the
reference (CPU, fp64, forward, lse and gradients; union and split heads, causal or not, a stride that is
not a power of two, a length the stride does not divide, padding with fully masked rows), the real
BlockMask on FlexAttention's unfused CPU kernels (forward), where the dispatcher takes it, and on the
GPU against the reference."""
import pytest
import torch

from zoo.attention import build, sparse_attention
from zoo.attention.kernels import flex, joined

from attention_cases import DenseMask, assert_matches_reference, dense_flex, global_token_inputs

PATTERNS = {"union_causal": build("fixed", stride=16, summary=4, causal=True),
            "union": build("fixed", stride=16, summary=4),
            "split_causal": build("fixed", stride=16, summary=4, heads="split", causal=True),
            "split": build("fixed", stride=16, summary=4, heads="split"),
            "stride12_causal": build("fixed", stride=12, summary=3, causal=True)}


@pytest.mark.parametrize("name", list(PATTERNS))
@pytest.mark.parametrize("padded", [False, True])
def test_joined_equals_the_pattern(name, padded):
    p, n = PATTERNS[name], 203
    pos, fn, bufs = p.joined_parts(n)
    assert pos.tolist() == [j for j in range(n) if j % p.stride >= p.stride - p.summary]
    q, k, v, kpm = global_token_inputs(n, padded)  # causal + padding: example 1's first rows see no key
    bm = DenseMask(joined.mask_mod(fn, bufs, pos, n, p.head_groups(), 2, kpm), n, n + len(pos), 2, heads=2)
    out, lse = joined.attention(q, k, v, pos, bm, 0.3, None, flex=dense_flex)
    if padded and p.causal:
        assert torch.isinf(lse[1, :, 0]).all() and (out[1, :, 0] == 0).all()
    assert_matches_reference(out, lse, q, k, v, p, kpm, 0.3)


@pytest.mark.parametrize("name", ["union_causal", "split"])
def test_real_blockmask_on_flex_unfused_path(eager_flex, name):
    """The joined BlockMask (built from its mask_mod) on FlexAttention's unfused CPU kernels, forward
    only (no CPU backward): equal to the reference, padded or not, on the CPU's 128-token blocks with
    the appended keys ending inside a block."""
    p, n = build("fixed", stride=64, summary=8, causal=PATTERNS[name].causal, heads=PATTERNS[name].heads), 640
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(2, 2, n, 8, generator=g) for _ in range(3))
    kpm = torch.ones(2, n, dtype=torch.bool)
    kpm[0, 500:] = False
    kpm[1, 56:64] = False  # the first block's summaries
    with torch.no_grad():
        for mask in (None, kpm):
            out, lse = flex.joined_flex_attention(q, k, v, p, scale=0.3, key_padding_mask=mask)
            want, want_lse = sparse_attention(q, k, v, p, backend="reference", key_padding_mask=mask, scale=0.3,
                                              return_lse=True)
            torch.testing.assert_close(out, want, atol=2e-5, rtol=2e-5)
            torch.testing.assert_close(lse, want_lse, atol=2e-5, rtol=2e-5)


def test_closed_form_positions_equal_the_table():
    """The kernel's mask reads the summary keys' positions in closed form where c is a power of two."""
    assert build("fixed", stride=12, summary=3).joined_position() is None
    for stride, summary, n in ((64, 8, 640), (192, 16, 1000), (96, 16, 3072), (128, 128, 300)):
        p = build("fixed", stride=stride, summary=summary)
        pos = p.joined_parts(n)[0]
        assert torch.equal(p.joined_position()(torch.arange(len(pos))), pos), (stride, summary)


def test_joined_only_where_it_applies(monkeypatch):
    p, n = PATTERNS["union_causal"], joined.MIN_TOKENS
    assert joined.applies(p, n, n, 0)
    assert not joined.applies(p, n - 1, n - 1, 0)  # shorter: the components
    assert not joined.applies(p, 16, n, n - 16) and not joined.applies(p, n, n, 16)  # a cache: the components
    assert not joined.applies(build("strided", stride=16), n, n, 0)
    wide = build("fixed", stride=2 * n, summary=8)  # no summary column below 2n - 8 tokens: nothing to join
    assert not joined.applies(wide, n, n, 0) and joined.applies(wide, 2 * n - 7, 2 * n - 7, 0)
    from zoo.bench import path_of
    assert path_of(p, n) == "joined" and path_of(build("strided", stride=16), n) == "components"
    monkeypatch.setenv("ZOO_JOINED_KEYS", "0")
    assert not joined.applies(p, n, n, 0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", ["union_causal", "union", "split_causal", "stride12_causal"])
def test_cuda_joined_matches_the_reference(monkeypatch, name):
    """On FlexAttention's fused kernels in fp32 (the dispatcher's path, which must be the joined one):
    forward, lse and gradients equal the fp64 reference at an odd length, padded or not."""
    monkeypatch.delenv("ZOO_FLEX_EAGER", raising=False)
    monkeypatch.setattr(joined, "MIN_TOKENS", 0)  # correctness below the length it runs from
    took, real = [], flex.joined_flex_attention
    monkeypatch.setattr(flex, "joined_flex_attention", lambda *a, **kw: took.append(1) or real(*a, **kw))
    base = PATTERNS[name]
    p = build("fixed", stride=128 if base.stride == 16 else 96, summary=8, causal=base.causal, heads=base.heads)
    n = 3001
    g = torch.Generator(device="cuda").manual_seed(0)
    q, k, v = (torch.randn(2, 4, n, 64, device="cuda", generator=g, requires_grad=True) for _ in range(3))
    kpm = torch.ones(2, n, dtype=torch.bool, device="cuda")
    kpm[0, 2500:] = False
    kpm[1, :130] = False
    do = torch.randn_like(q)
    for mask in (None, kpm):
        out, lse = sparse_attention(q, k, v, p, backend="flex", key_padding_mask=mask, return_lse=True)
        x64 = [t.detach().double().requires_grad_() for t in (q, k, v)]
        want, want_lse = sparse_attention(*x64, p, backend="reference", key_padding_mask=mask, return_lse=True)
        torch.testing.assert_close(out.double(), want, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(lse.double(), want_lse, atol=1e-4, rtol=1e-4)
        for a, b in zip(torch.autograd.grad(out, (q, k, v), do), torch.autograd.grad(want, x64, do.double())):
            torch.testing.assert_close(a.double(), b, atol=1e-4, rtol=1e-4)
    assert len(took) == 2
