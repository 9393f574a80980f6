"""Component plumbing fast paths (kernels/gather.py): a residue order covering the whole axis is
gathered by a transpose, bit-identical to the index_select path (ZOO_EAGER_PLUMBING=1) and exact
against the dense oracle; anything else falls back to index_select."""
import pytest
import torch

from zoo.attention import sparse_attention
from zoo.attention.kernels import gather as G
from zoo.attention.layout import residue_order

from attention_cases import static_patterns, with_causal
from test_attention_exact import _inputs, _padding, _rel, _run

PATTERNS = static_patterns()  # strided: stride 5; dilated_window: dilation 3; per_head: dilations [1, 2]


def _strides(p, n_q, n_k, H, k_start=0):
    """q_stride of every component that permutes queries; k strides of all components."""
    dummy_q, dummy_k = torch.zeros(1, H, n_q, 1), torch.zeros(1, H, n_k, 1)
    comps = p.components(n_q, n_k, H, k_start)
    q = [G.gather(dummy_q, dummy_k, dummy_k, c, k_start).q_stride for c in comps if c.q_pos is not None]
    k = [G._stride_of(c, c.k_pos, "k", k_start, n_k) for c in comps if c.k_pos is not None]
    return q, k


def _both_paths(monkeypatch, p, q, k, v, kpm=None, k_start=0):
    """(out, grads) with the fast plumbing, then with ZOO_EAGER_PLUMBING=1."""
    def run():
        out = sparse_attention(q, k, v, p, backend="reference", key_padding_mask=kpm, k_start=k_start)
        return out, torch.autograd.grad((out * out).sum() + out.sum(), (q, k, v))
    fast = run()
    monkeypatch.setenv("ZOO_EAGER_PLUMBING", "1")
    eager = run()
    monkeypatch.delenv("ZOO_EAGER_PLUMBING")
    return fast, eager


def _assert_identical(fast, eager):
    assert torch.equal(fast[0], eager[0])
    for a, b in zip(fast[1], eager[1]):
        assert torch.equal(a, b)


@pytest.mark.parametrize("name,n,r", [("strided", 130, 5), ("strided_split", 130, 5),
                                      ("dilated_window", 129, 3), ("dilated_window_per_head", 130, 2)])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("padded", [False, True])
def test_transpose_matches_index_select_bitwise(monkeypatch, name, n, r, causal, padded):
    p = with_causal(PATTERNS[name], causal)
    assert _strides(p, n, n, 2) == ([r], [r])  # the fast path is taken for q and k
    q, k, v = _inputs(n, torch.float32)
    kpm = _padding(n) if padded else None
    _assert_identical(*_both_paths(monkeypatch, p, q, k, v, kpm))


@pytest.mark.parametrize("name", ["strided", "strided_split", "dilated_window"])
def test_transpose_matches_dense_oracle(name):
    p = with_causal(PATTERNS[name], True)
    n = 135  # divisible by 5 and 3
    q, k, v = _inputs(n, torch.float64)
    out, grads = _run(p, q, k, v, "reference", None)
    ref, ref_grads = _run(p, q, k, v, "dense", None)
    assert _rel(out, ref) < 1e-10
    for g, rg in zip(grads, ref_grads):
        assert _rel(g, rg) < 1e-10


@pytest.mark.parametrize("name,n", [("strided", 131), ("strided_split", 132), ("dilated_window", 130)])
def test_falls_back_when_length_not_divisible(monkeypatch, name, n):
    p = with_causal(PATTERNS[name], True)
    assert _strides(p, n, n, 2) == ([0], [0])
    q, k, v = _inputs(n, torch.float64)
    fast, eager = _both_paths(monkeypatch, p, q, k, v)
    _assert_identical(fast, eager)
    assert _rel(fast[0], sparse_attention(q, k, v, p, backend="dense")) < 1e-10


@pytest.mark.parametrize("name", ["strided", "strided_split", "dilated_window"])
def test_falls_back_with_k_start(monkeypatch, name):
    """A chunk after a cache (k_start a multiple of the stride, so only the offset rule refuses)."""
    p = with_causal(PATTERNS[name], True)
    n, k_start = 30, 15
    assert _strides(p, n, n, 2, k_start) == ([0], [0])
    q, k, v = _inputs(n, torch.float64)
    fast, eager = _both_paths(monkeypatch, p, q, k, v, k_start=k_start)
    _assert_identical(fast, eager)
    ref = sparse_attention(q, k, v, p, backend="dense", k_start=k_start)
    assert _rel(fast[0], ref) < 1e-10


@pytest.mark.parametrize("name", ["strided", "dilated_window"])
def test_fewer_queries_transpose_keys_only(monkeypatch, name):
    """Bottom-right queries (q0 > 0) keep index_select; the full key axis still transposes."""
    p = with_causal(PATTERNS[name], True)
    n_q, n_k = 7, 45
    assert _strides(p, n_q, n_k, 2) == ([0], [5 if name == "strided" else 3])
    q = _inputs(n_q, torch.float64)[0]
    _, k, v = _inputs(n_k, torch.float64)
    fast, eager = _both_paths(monkeypatch, p, q, k, v)
    _assert_identical(fast, eager)
    assert _rel(fast[0], sparse_attention(q, k, v, p, backend="dense")) < 1e-10


def test_eager_env_disables_transpose(monkeypatch):
    p = PATTERNS["strided"]
    monkeypatch.setenv("ZOO_EAGER_PLUMBING", "1")
    assert _strides(p, 40, 40, 2) == ([0], [0])
    monkeypatch.delenv("ZOO_EAGER_PLUMBING")
    assert _strides(p, 40, 40, 2) == ([5], [5])  # read per call, not at import


def test_residue_stride_detection():
    # one class or one row is the identity order: 1, a no-op transpose
    for n, r, want in [(12, 3, 3), (10, 5, 5), (128, 8, 8), (6, 6, 1), (7, 1, 1), (1, 3, 1)]:
        order, _ = residue_order(0, n, r)
        assert G._residue_stride(order, n) == want
        x = torch.randn(2, 3, n, 4)  # (B, H, N, D)
        assert torch.equal(G._transpose_in(x, want), x.index_select(2, order))
        assert torch.equal(G._transpose_out(G._transpose_in(x, want), want), x)
        lse = x[..., 0]  # (B, H, N)
        assert torch.equal(G._transpose_out(lse, want), lse.index_select(2, torch.argsort(order)))
    assert G._residue_stride(residue_order(0, 10, 3)[0], 10) == 0  # 3 does not divide 10
    assert G._residue_stride(residue_order(3, 12, 3)[0], 12) == 0  # absolute positions from 3
    assert G._residue_stride(residue_order(0, 12, 3)[0], 13) == 0  # shorter than the axis
    assert G._residue_stride(torch.tensor([0, 2, 3, 1]), 4) == 0  # starts like r=2, is not
    assert G._residue_stride(torch.tensor([0, 2, 1, 3, 4, 5]), 6) == 0  # r=2 would be 0, 2, 4, 1, 3, 5
    assert G._residue_stride(residue_order(0, 12, 3)[0].view(1, 1, 12), 12) == 0  # routed (B, H, N)
    assert G._residue_stride(torch.zeros(0, dtype=torch.long), 0) == 0


def _pieces(seed=0, B=2, H=3, N=33, D=4, C=3):
    g = torch.Generator().manual_seed(seed)
    outs = [torch.randn(B, H, N, D, generator=g) for _ in range(C)]
    lses = [torch.randn(B, H, N, generator=g) for _ in range(C)]
    for c, lse in enumerate(lses):  # some rows empty in one piece, rows 0..3 empty in all
        lse[:, :, c::4] = float("-inf")
        lse[:, :, :4] = float("-inf")
        outs[c][:, :, :4] = 0.0
    return [t.requires_grad_() for t in outs], [t.requires_grad_() for t in lses]


def _merge_grads(fn, outs, lses, dtype):
    out, lse = fn(tuple(outs), tuple(lses), dtype)
    loss = (out.float() ** 2).sum() + (torch.where(torch.isfinite(lse), lse, 0.0) ** 2).sum()
    return (out, lse), torch.autograd.grad(loss, outs + lses)


def test_merge_empty_rows_zero_and_finite_grads():
    outs, lses = _pieces()
    (out, lse), grads = _merge_grads(G._merge, outs, lses, None)
    assert out[:, :, :4].abs().max() == 0 and torch.isneginf(lse[:, :, :4]).all()
    assert torch.isfinite(lse[:, :, 4:]).all()
    for g in grads:
        assert torch.isfinite(g).all()
        assert g[:, :, :4].abs().max() == 0


@pytest.mark.slow
def test_compiled_merge_matches_eager():
    """The CUDA merge graph, compiled here for the CPU: same values, empty rows and gradients."""
    outs, lses = _pieces()
    for dtype in (None, torch.bfloat16):
        (out, lse), grads = _merge_grads(G._merge, outs, lses, dtype)
        (cout, clse), cgrads = _merge_grads(G.compiled(G._merge), outs, lses, dtype)
        assert cout.dtype == out.dtype
        assert torch.equal(torch.isneginf(clse), torch.isneginf(lse))
        assert cout[:, :, :4].abs().max() == 0
        tol = 1e-5 if dtype is None else 1e-2
        torch.testing.assert_close(cout, out, atol=tol, rtol=tol)
        torch.testing.assert_close(clse, lse)
        for a, b in zip(cgrads, grads):
            assert torch.isfinite(a).all() and a[:, :, :4].abs().max() == 0
            torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_device_copies_follow_their_source_tensor():
    """Routed components share one cache dict across calls and hash rounds (their BlockMask
    structure), so a cached device copy must belong to the positions it was made from: keyed by
    name alone, round 2 of LSH reused round 1's positions on the GPU."""
    from zoo.attention.layout import Component

    shared: dict = {}
    a = Component(mask=lambda b, h, i, j: i >= j, q_pos=torch.arange(8), _cache=shared)
    b = Component(mask=lambda b, h, i, j: i >= j, q_pos=torch.arange(8).flip(0), _cache=shared)
    dev = torch.device("meta")  # any device other than the positions' own takes the caching path
    qa = G._on_device(a, "q_pos", a.q_pos, dev)
    qb = G._on_device(b, "q_pos", b.q_pos, dev)
    assert qb is not qa and G._on_device(b, "q_pos", b.q_pos, dev) is qb  # cached, but per source
    assert G._on_device(a, "q_pos", a.q_pos, dev) is not qb
    assert G._on_device(a, "q_pos", a.q_pos, torch.device("cpu")) is a.q_pos  # same device: no copy
    assert G._stride_of(a, a.q_pos, "q", 0, 8) == 1 and G._stride_of(b, b.q_pos, "q", 0, 8) == 0
