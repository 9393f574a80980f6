"""Global query rows by split-KV (kernels/global_rows.py): the decomposition the GPU runs with two
FlexAttention BlockMasks (the pattern without its global rows; the rows once per key split, merged
by log-sum-exp), here with each BlockMask's pattern evaluated densely, against the
reference on the whole pattern: forward, lse and gradients (CPU, fp64), padded or not."""
import os

import pytest
import torch

from zoo.attention import build, sparse_attention
from zoo.attention.kernels import global_rows as gr

from attention_cases import assert_matches_reference, global_token_inputs

PATTERNS = {"longformer": build("longformer", window=16, global_tokens=5),
            "bigbird": build("bigbird", block=8, window_blocks=3, global_blocks=1, random_blocks=1)}


def _attend(q, k, v, p, *, block, scale, key_padding_mask=None, kernel_options=None):
    """One 'BlockMask' densely: the pattern's token mask -> (out, lse), lse differentiable as
    FlexAttention's is on the GPU (rows with no key: zeros, -inf)."""
    allowed = p.token_mask(q.shape[2], k.shape[2])  # (1, n_q, n_k)
    if key_padding_mask is not None:
        allowed = allowed & key_padding_mask[:, None, None, :]
    s = (q @ k.transpose(-1, -2) * scale).masked_fill(~allowed, float("-inf"))
    lse = torch.logsumexp(s, -1)
    return torch.exp(s - lse[..., None]).nan_to_num(0.0) @ v, lse


@pytest.mark.parametrize("name", list(PATTERNS))
@pytest.mark.parametrize("n", [200, 192])
@pytest.mark.parametrize("padded", [False, True])
def test_split_rows_equal_the_pattern(monkeypatch, name, n, padded):
    monkeypatch.setattr(gr, "SPLIT", 64)  # several splits at a CPU-sized length (the last one partial at 200)
    monkeypatch.setattr(gr, "MIN_TOKENS", 0)
    p = PATTERNS[name]
    rows = gr.split_rows(p, n, n, 0, grad=False)
    assert rows == p.global_rows() > 0
    q, k, v, kpm = global_token_inputs(n, padded)  # padding: the whole last split, some global keys
    out, lse = gr.attention(q, k, v, p, rows, 16, _attend, scale=0.3, key_padding_mask=kpm)
    assert_matches_reference(out, lse, q, k, v, p, kpm, 0.3)

def test_split_only_where_it_applies(monkeypatch):
    lf = PATTERNS["longformer"]
    n = gr.MIN_TOKENS
    assert gr.split_rows(lf, n, n, 0, grad=False) == 5
    assert gr.split_rows(lf, n, n, 0, grad=True) == 0  # with gradients the split lost on the H200
    assert gr.split_rows(lf, n - 1, n - 1, 0, grad=False) == 0  # below MIN_TOKENS
    monkeypatch.setattr(gr, "MIN_TOKENS", 0)
    assert gr.split_rows(lf, gr.SPLIT, gr.SPLIT, 0, grad=False) == 0  # one split: nothing to parallelise
    assert gr.split_rows(lf, n - 3, n, 0, grad=False) == 0 and gr.split_rows(lf, n, n, 2, grad=False) == 0  # a cache
    assert gr.split_rows(build("longformer", window=16, global_tokens=5, causal=True), n, n, 0, grad=False) == 0
    assert gr.split_rows(build("sliding_window"), n, n, 0, grad=False) == 0
    monkeypatch.setenv("ZOO_SPLIT_GLOBAL_ROWS", "0")
    assert gr.split_rows(lf, n, n, 0, grad=False) == 0


def test_without_rows_drops_exactly_the_rows():
    p = PATTERNS["bigbird"]
    w = gr.WithoutRows(inner=p, rows=8)
    full, cut = p.token_mask(40), w.token_mask(40)
    assert not cut[:, :8].any() and torch.equal(cut[:, 8:], full[:, 8:])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", ["longformer", "bigbird"])
@pytest.mark.parametrize("padded", [False, True])
def test_cuda_split_rows_match_the_one_blockmask(monkeypatch, name, padded):
    """On FlexAttention's fused kernels at the benchmark's pattern parameters (16k tokens, bf16): the
    split-KV rows (forced: without gradients and from MIN_TOKENS on by default) and the one BlockMask
    (ZOO_SPLIT_GLOBAL_ROWS=0) agree, forward and gradients."""
    monkeypatch.delenv("ZOO_FLEX_EAGER", raising=False)
    monkeypatch.setattr(gr, "split_rows", lambda p, n_q, n_k, k_start, grad: p.global_rows()
                        if os.environ["ZOO_SPLIT_GLOBAL_ROWS"] == "1" else 0)
    p = {"longformer": build("longformer", window=512, global_tokens=32),
         "bigbird": build("bigbird", block=64, window_blocks=3, global_blocks=1, random_blocks=3)}[name]
    g = torch.Generator(device="cuda").manual_seed(0)
    q, k, v = (torch.randn(2, 4, 16384, 64, device="cuda", dtype=torch.bfloat16, generator=g) for _ in range(3))
    kpm = None
    if padded:
        kpm = torch.ones(2, 16384, dtype=torch.bool, device="cuda")
        kpm[0, 10000:] = False
    do = torch.randn_like(q)
    got = []
    for env in ("1", "0"):
        monkeypatch.setenv("ZOO_SPLIT_GLOBAL_ROWS", env)
        xs = [t.clone().requires_grad_() for t in (q, k, v)]
        out = sparse_attention(*xs, p, backend="flex", key_padding_mask=kpm)
        got.append((out, *torch.autograd.grad(out, xs, do)))
    for a, b in zip(*got):
        assert ((a.float() - b.float()).abs().max() / b.float().abs().max().clamp(min=1)).item() < 2e-2


@pytest.mark.parametrize("name", list(PATTERNS))
def test_dispatcher_splits_on_flex_unfused_path(eager_flex, monkeypatch, name):
    """The dispatcher's flex path with FlexAttention's unfused CPU kernels (forward without gradients):
    past one split it runs the real WithoutRows / Splits BlockMasks and mask_mods, equal to the one
    BlockMask and to the reference, padded or not."""
    monkeypatch.setattr(gr, "MIN_TOKENS", 0)
    p = PATTERNS[name]
    n = gr.SPLIT + 77
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(2, 2, n, 8, generator=g) for _ in range(3))
    kpm = torch.ones(2, n, dtype=torch.bool)
    kpm[0, gr.SPLIT:] = False  # the whole last split
    kpm[1, :2] = False  # global keys
    calls = []
    real = gr.attention
    monkeypatch.setattr(gr, "attention", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    with torch.no_grad():
        for mask in (None, kpm):
            want = sparse_attention(q, k, v, p, backend="reference", key_padding_mask=mask)
            got = sparse_attention(q, k, v, p, backend="flex", key_padding_mask=mask)
            monkeypatch.setenv("ZOO_SPLIT_GLOBAL_ROWS", "0")
            one = sparse_attention(q, k, v, p, backend="flex", key_padding_mask=mask)
            monkeypatch.delenv("ZOO_SPLIT_GLOBAL_ROWS")
            torch.testing.assert_close(got, want, atol=2e-5, rtol=2e-5)
            torch.testing.assert_close(got, one, atol=2e-5, rtol=2e-5)
    assert len(calls) == 2  # the split ran (and only without ZOO_SPLIT_GLOBAL_ROWS=0)
    asked = []
    real_rows = gr.split_rows
    monkeypatch.setattr(gr, "split_rows", lambda *a, **kw: asked.append(a[-1]) or real_rows(*a, **kw))
    with pytest.raises(NotImplementedError):  # FlexAttention has no CPU backward; the split was declined first
        sparse_attention(q.requires_grad_(), k, v, p, backend="flex")
    assert asked == [True] and len(calls) == 2  # not where autograd records the call
