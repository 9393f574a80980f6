"""reference == dense oracle, forward and gradients, for every static pattern (the core's contract)."""
import pytest
import torch

from zoo.attention import build, sparse_attention

from attention_cases import static_patterns, with_causal

PATTERNS = static_patterns()
LENGTHS = [1, 7, 128, 257, 1000]


def _inputs(n, dtype, B=2, H=2, D=8, seed=0):
    g = torch.Generator().manual_seed(seed + n)
    return [torch.randn(B, H, n, D, generator=g, dtype=dtype).requires_grad_() for _ in range(3)]


def _padding(n, B=2):
    """Example 0: a padded tail and a padded head (so causal rows at the start have no key);
    example 1: every key padded (every row fully masked)."""
    m = torch.ones(B, n, dtype=torch.bool)
    m[0, : max(1, n // 10)] = False
    m[0, n - n // 4:] = False
    m[1] = False
    return m


def _run(p, q, k, v, backend, kpm):
    out = sparse_attention(q, k, v, p, backend=backend, key_padding_mask=kpm)
    grads = torch.autograd.grad((out * out).sum() + out.sum(), (q, k, v))
    return out, grads


def _rel(a, b):
    return ((a - b).abs().max() / b.abs().max().clamp(min=1.0)).item()


@pytest.mark.parametrize("name", list(PATTERNS))
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("padded", [False, True])
def test_reference_matches_dense_fp64(name, causal, n, padded):
    p = with_causal(PATTERNS[name], causal)
    q, k, v = _inputs(n, torch.float64)
    kpm = _padding(n) if padded else None
    out, grads = _run(p, q, k, v, "reference", kpm)
    ref, ref_grads = _run(p, q, k, v, "dense", kpm)
    assert torch.isfinite(out).all()
    assert _rel(out, ref) < 1e-10
    for g, rg in zip(grads, ref_grads):
        assert torch.isfinite(g).all()
        assert _rel(g, rg) < 1e-10
    if padded:  # example 1 has no key at all: zeros, never NaN
        assert out[1].abs().max() == 0


@pytest.mark.parametrize("name", list(PATTERNS))
@pytest.mark.parametrize("causal", [False, True])
def test_reference_matches_dense_fp32(name, causal):
    p = with_causal(PATTERNS[name], causal)
    q, k, v = _inputs(257, torch.float32, seed=3)
    kpm = _padding(257)
    out, grads = _run(p, q, k, v, "reference", kpm)
    q64, k64, v64 = (t.detach().double().requires_grad_() for t in (q, k, v))
    ref, ref_grads = _run(p, q64, k64, v64, "dense", kpm)
    assert _rel(out.double(), ref) < 1e-5
    for g, rg in zip(grads, ref_grads):
        assert _rel(g.double(), rg) < 1e-5


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("n", [7, 130])
def test_longformer_per_example_global_mask(causal, n):
    p = build("longformer", window=4, global_tokens=0, causal=causal)
    q, k, v = _inputs(n, torch.float64)
    g = torch.Generator().manual_seed(n)
    gm = torch.rand(2, n, generator=g) > 0.85
    gm[0, 0] = True
    kpm = torch.rand(2, n, generator=g) > 0.2
    out = sparse_attention(q, k, v, p, global_mask=gm, key_padding_mask=kpm, backend="reference")
    ref = sparse_attention(q, k, v, p, global_mask=gm, key_padding_mask=kpm, backend="dense")
    assert _rel(out, ref) < 1e-10
    go = torch.autograd.grad(out.square().sum(), (q, k, v))
    gr = torch.autograd.grad(ref.square().sum(), (q, k, v))
    for a, b in zip(go, gr):
        assert _rel(a, b) < 1e-10


@pytest.mark.parametrize("name", list(PATTERNS))
def test_fewer_queries_than_keys(name):
    """Bottom-right aligned queries (a decoding step or a chunk) match the oracle too."""
    p = with_causal(PATTERNS[name], True)
    q = _inputs(3, torch.float64)[0]
    _, k, v = _inputs(41, torch.float64)
    out = sparse_attention(q, k, v, p, backend="reference")
    ref = sparse_attention(q, k, v, p, backend="dense")
    assert _rel(out, ref) < 1e-10


def test_token_mask_matches_definitions():
    n = 40
    i = torch.arange(n)[:, None]
    j = torch.arange(n)[None, :]
    d = i - j
    assert torch.equal(build("sliding_window", left=3, right=1).token_mask(n)[0], (d <= 3) & (d >= -1))
    assert torch.equal(build("dilated_window", left=2, right=2, dilation=3).token_mask(n)[0],
                       (d % 3 == 0) & (d.abs() <= 6))
    assert torch.equal(build("strided", stride=8, causal=True).token_mask(n)[0],
                       ((d < 8) | (d % 8 == 0)) & (d >= 0))
    assert torch.equal(build("fixed", stride=8, summary=2).token_mask(n)[0], (i // 8 == j // 8) | (j % 8 >= 6))
    assert torch.equal(build("longformer", window=4, global_tokens=2).token_mask(n)[0],
                       (d.abs() <= 2) | (i < 2) | (j < 2))
    assert torch.equal(build("prefix_lm", prefix_len=5).token_mask(n)[0], (j < 5) | (j <= i))
    split = build("strided", stride=8, heads="split").token_mask(n, n_heads=4)
    assert split.shape == (4, n, n)
    assert torch.equal(split[0], d.abs() < 8) and torch.equal(split[3], d % 8 == 0)


def test_bigbird_random_blocks_follow_the_rules():
    p = build("bigbird", block=4, window_blocks=3, global_blocks=1, random_blocks=2, seed=5)
    t = p.block_table(12)
    qb, kb = torch.arange(12)[:, None], torch.arange(12)[None, :]
    base = ((qb - kb).abs() <= 1) | (qb < 1) | (kb < 1)
    extra = t & ~base
    assert (extra.sum(1)[1:] == 2).all()  # exactly random_blocks extra blocks per non-global row
    tc = build("bigbird", block=4, window_blocks=3, global_blocks=1, random_blocks=2, causal=True).block_table(12)
    assert not (tc & ~base & (kb >= qb)).any()  # causal draws from earlier blocks only
