"""Global tokens as copies inside the pattern's one BlockMask call (kernels/global_copies.py): the
copies' mask evaluated densely on (q', k') against the reference on the whole pattern (CPU, fp64,
forward, lse and gradients; bidirectional and causal, padded or not), the dispatcher's flex path on
FlexAttention's unfused CPU kernels, where the copies apply, and on the GPU against the one
BlockMask."""
import pytest
import torch

from zoo.attention import build, sparse_attention
from zoo.attention.kernels import global_copies as gc

PATTERNS = {"longformer": build("longformer", window=16, global_tokens=5),
            "bigbird": build("bigbird", block=8, window_blocks=3, global_blocks=1, random_blocks=1),
            "longformer_causal": build("longformer", window=16, global_tokens=5, causal=True),
            "bigbird_causal": build("bigbird", block=8, window_blocks=3, global_blocks=2, random_blocks=1,
                                    causal=True)}


class _Dense:
    """A stand-in BlockMask whose mask is evaluated on every (q', k') pair."""

    def __init__(self, mask_mod, n_q, n_k, batch):
        b = torch.arange(batch)[:, None, None, None]
        h = torch.zeros((), dtype=torch.long)
        self.allowed = mask_mod(b, h, torch.arange(n_q)[None, None, :, None], torch.arange(n_k)[None, None, None, :])


def _dense_flex(q, k, v, block_mask, scale, return_aux=None, return_lse=False, **_):
    """FlexAttention's contract, densely: rows with no key give zeros and lse -inf."""
    s = (q @ k.transpose(-1, -2) * scale).masked_fill(~block_mask.allowed, float("-inf"))
    lse = torch.logsumexp(s, -1)
    out = torch.exp(s - lse[..., None]).nan_to_num(0.0) @ v
    if return_aux is not None:
        return out, type("Aux", (), {"lse": lse})()
    return out, lse


def _record_plans(monkeypatch) -> list:
    """The plans the dispatcher gets that run the copies (not None)."""
    calls, real = [], gc.plan
    monkeypatch.setattr(gc, "plan", lambda *a, **kw: (lambda p: p and calls.append(p) or p)(real(*a, **kw)))
    return calls


@pytest.mark.parametrize("name", list(PATTERNS))
@pytest.mark.parametrize("grad", [True, False])
@pytest.mark.parametrize("padded", [False, True])
def test_copies_equal_the_pattern(monkeypatch, name, grad, padded):
    monkeypatch.setattr(gc, "SPLIT", 64)  # several copies at a CPU-sized length
    monkeypatch.setattr(gc, "MIN_TOKENS", 0)
    p, n, block = PATTERNS[name], 208, 16
    plan = gc.plan(p, n, n, 0, block, grad)
    if p.causal and not grad:  # no global rows, and no key copies in a forward
        assert plan is None
        return
    assert plan.rows == p.global_rows() and plan.cols == (p.global_cols() if grad else 0)
    assert plan.row_copies == (4 if p.global_rows() else 0) and plan.col_copies == (4 if grad else 0)
    g = torch.Generator().manual_seed(n)
    q, k, v = (torch.randn(2, 2, n, 8, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(3))
    kpm = None
    if padded:
        kpm = torch.ones(2, n, dtype=torch.bool)
        kpm[0, -70:] = False  # the whole last split padded away
        kpm[1, :3] = False  # some global keys padded
    fn, bufs = p.mask_parts(n)
    bm = _Dense(gc.mask_mod(fn, bufs, plan, p.head_groups(), 2, kpm), plan.n_q, plan.n_k, 2)
    out, lse = gc.attention(q, k, v, plan, bm, 0.3, None, flex=_dense_flex)
    want, want_lse = sparse_attention(q, k, v, p, backend="reference", key_padding_mask=kpm, scale=0.3,
                                      return_lse=True)
    torch.testing.assert_close(out, want)
    torch.testing.assert_close(lse, want_lse)
    do = torch.randn_like(out)
    for a, b in zip(torch.autograd.grad(out, (q, k, v), do), torch.autograd.grad(want, (q, k, v), do)):
        torch.testing.assert_close(a, b)


def test_copies_only_where_they_apply(monkeypatch):
    lf = PATTERNS["longformer"]
    n, block = gc.MIN_TOKENS, 64
    assert gc.plan(lf, n, n, 0, block, grad=True) == gc.Plan(n, 5, 5, block, gc.SPLIT)
    assert gc.plan(lf, n, n, 0, block, grad=False) == gc.Plan(n, 5, 0, block, gc.SPLIT)  # no key copies in a forward
    assert gc.plan(PATTERNS["longformer_causal"], n, n, 0, block, grad=False) is None  # no rows, no copies
    assert gc.plan(PATTERNS["longformer_causal"], n, n, 0, block, grad=True) == gc.Plan(n, 0, 5, block, gc.SPLIT)
    assert gc.plan(lf, n - block, n - block, 0, block, grad=True) is None  # below MIN_TOKENS
    assert gc.plan(lf, n + 1, n + 1, 0, block, grad=True) is None  # the block does not divide the length
    assert gc.plan(lf, n - block, n, 0, block, grad=True) is None and gc.plan(lf, n, n, block, block, True) is None
    assert gc.plan(build("sliding_window"), n, n, 0, block, grad=True) is None
    assert gc.plan(build("longformer", global_tokens=gc.SPLIT), n, n, 0, block, grad=True) is None  # many globals
    monkeypatch.setenv("ZOO_GLOBAL_COPIES", "0")
    assert gc.plan(lf, n, n, 0, block, grad=True) is None
    p = gc.Plan(3 * gc.SPLIT, 5, 130, 64, gc.SPLIT)
    assert (p.row_slot, p.col_slot, p.row_copies, p.col_copies) == (64, 256, 3, 3)  # powers of two, >= a block
    assert (p.n_q, p.n_k) == (3 * gc.SPLIT + 3 * 64, 3 * gc.SPLIT + 3 * 256)
    assert gc.plan(lf, n, n, 0, 96, grad=True) is None  # a block that is not a power of two


@pytest.mark.parametrize("name", ["longformer", "bigbird"])
def test_dispatcher_runs_copies_on_flex_unfused_path(eager_flex, monkeypatch, name):
    """The dispatcher's flex path on FlexAttention's unfused CPU kernels (forward without gradients:
    row copies only): the real copies' BlockMask and mask_mod, equal to the one BlockMask and to the
    reference, padded or not."""
    monkeypatch.setattr(gc, "SPLIT", 64)
    monkeypatch.setattr(gc, "MIN_TOKENS", 0)
    p = PATTERNS[name]
    n = 256  # a multiple of the CPU's 128-token block
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(2, 2, n, 8, generator=g) for _ in range(3))
    kpm = torch.ones(2, n, dtype=torch.bool)
    kpm[0, 200:] = False
    kpm[1, :2] = False  # global keys
    calls = _record_plans(monkeypatch)
    with torch.no_grad():
        for mask in (None, kpm):
            want = sparse_attention(q, k, v, p, backend="reference", key_padding_mask=mask)
            got = sparse_attention(q, k, v, p, backend="flex", key_padding_mask=mask)
            monkeypatch.setenv("ZOO_GLOBAL_COPIES", "0")
            one = sparse_attention(q, k, v, p, backend="flex", key_padding_mask=mask)
            monkeypatch.delenv("ZOO_GLOBAL_COPIES")
            torch.testing.assert_close(got, want, atol=2e-5, rtol=2e-5)
            torch.testing.assert_close(got, one, atol=2e-5, rtol=2e-5)
    assert [c.row_copies for c in calls] == [4, 4]  # the copies ran (and only without ZOO_GLOBAL_COPIES=0)
    assert [c.col_copies for c in calls] == [0, 0]  # no key copies without gradients


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", ["longformer", "bigbird", "longformer_causal"])
@pytest.mark.parametrize("padded", [False, True])
def test_cuda_copies_match_the_one_blockmask(monkeypatch, name, padded):
    """On FlexAttention's fused kernels at the benchmark's pattern parameters (16k tokens, bf16): the
    copies (the default with gradients) and the one BlockMask (ZOO_GLOBAL_COPIES=0) agree, forward and
    gradients; and at 4,096 tokens in fp32 the copies equal the reference."""
    monkeypatch.delenv("ZOO_FLEX_EAGER", raising=False)
    monkeypatch.setattr(gc, "MIN_TOKENS", 0)  # correctness at lengths below where the copies pay
    causal = name.endswith("_causal")
    p = {"longformer": build("longformer", window=512, global_tokens=32, causal=causal),
         "bigbird": build("bigbird", block=64, window_blocks=3, global_blocks=1, random_blocks=3)}[name.split("_")[0]]
    calls = _record_plans(monkeypatch)
    for n, dtype, tol in ((16384, torch.bfloat16, 2e-2), (4096, torch.float32, 1e-4)):
        g = torch.Generator(device="cuda").manual_seed(0)
        q, k, v = (torch.randn(2, 4, n, 64, device="cuda", dtype=dtype, generator=g) for _ in range(3))
        kpm = None
        if padded:
            kpm = torch.ones(2, n, dtype=torch.bool, device="cuda")
            kpm[0, n * 5 // 8:] = False
            kpm[1, :3] = False
        do = torch.randn_like(q)
        got = []
        for env in ("1", "0", "ref"):
            monkeypatch.setenv("ZOO_GLOBAL_COPIES", env)
            xs = [t.clone().requires_grad_() for t in (q, k, v)]
            if env == "ref":
                if n > 4096:
                    break
                xs64 = [t.double().detach().requires_grad_() for t in xs]
                out = sparse_attention(*xs64, p, backend="reference", key_padding_mask=kpm)
                got.append((out, *torch.autograd.grad(out, xs64, do.double())))
                continue
            out = sparse_attention(*xs, p, backend="flex", key_padding_mask=kpm)
            got.append((out, *torch.autograd.grad(out, xs, do)))
        for other in got[1:]:
            for a, b in zip(got[0], other):
                err = ((a.double() - b.double()).abs().max() / b.double().abs().max().clamp(min=1)).item()
                assert err < tol, (n, dtype, err)
    assert [(c.n, c.col_copies) for c in calls] == [(16384, 16), (4096, 4)]
