"""Routed chunk bands in their sorted order (kernels/routed.py) against the reference backend.

Forward through FlexAttention's unfused path on the CPU; gradients through the same plumbing with
the FlexAttention call replaced by an exact dense evaluation of its BlockMask (FlexAttention has
no CPU backward; the GPU checks the fused kernels, tools/gpu_correctness.py)."""
import pytest
import torch

from zoo.attention import build, sparse_attention
from zoo.attention.kernels import flex
from zoo.attention.kernels.block_mask import listed_blocks

from attention_cases import with_causal

pytestmark = pytest.mark.usefixtures("eager_flex")  # conftest.py

CASES = {"lsh": build("lsh", bucket_size=8, n_hashes=2, chunk=8),
         "lsh_3_rounds_chunk_16": build("lsh", bucket_size=8, n_hashes=3, chunk=16),
         "lsh_chunk_64": build("lsh", bucket_size=64, chunk=64),  # on 64-token blocks: full blocks
         "lsh_1_round": build("lsh", bucket_size=8, n_hashes=1, chunk=8),
         "anchor": build("anchor", n_anchors=4, chunk=8, window=4)}


def _rel(a, b):
    return ((a - b).abs().max() / b.abs().max().clamp(min=1.0)).item()


def _inputs(n, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(2, 2, n, 16, generator=g, dtype=dtype) for _ in range(3))
    kpm = torch.ones(2, n, dtype=torch.bool)
    kpm[0, -9:] = False
    kpm[1, :3] = False
    return q, k, v, kpm


def _dense_run(q, k, v, bm, scale, kernel_options=None, need_lse=True):
    """What FlexAttention computes for ``bm``, densely and differentiably: listed blocks only, the
    mask_mod on partial ones; rows with no key give zeros and lse -inf."""
    B, H, n, _ = q.shape
    bq, bk = bm.BLOCK_SIZE
    partial, full = listed_blocks(bm, -(-k.shape[2] // bk))  # (1|B, 1|H, nQB, nKB)
    expand = lambda t: t.repeat_interleave(bq, -2).repeat_interleave(bk, -1)[..., :n, :k.shape[2]]  # noqa: E731
    b, h = torch.arange(B).view(B, 1, 1, 1), torch.arange(H).view(1, H, 1, 1)
    i, j = torch.arange(n).view(1, 1, n, 1), torch.arange(k.shape[2]).view(1, 1, 1, -1)
    ok = expand(full) | (expand(partial) & bm.mask_mod(b, h, i, j))
    s = (q @ k.transpose(-1, -2) * scale).masked_fill(~ok, float("-inf"))
    lse = torch.logsumexp(s, -1)
    p = torch.exp(s - torch.where(torch.isfinite(lse), lse, 0.0)[..., None])
    return p @ v, lse


def _sorted_calls(monkeypatch, run=None):
    """Batch sizes of the FlexAttention calls made (the sorted path stacks rounds: R * B), each call of
    the sorted path preceded by "sorted"."""
    calls, real, pieces = [], run or flex._run, flex.sorted_pieces
    monkeypatch.setattr(flex, "_run", lambda q, *a, **kw: calls.append(q.shape[0]) or real(q, *a, **kw))
    monkeypatch.setattr(flex, "sorted_pieces", lambda q, *a, **kw: calls.append("sorted") or pieces(q, *a, **kw))
    return calls


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("block", ["128", "64"])
@pytest.mark.parametrize("run", ["flex", "block_lists"])
def test_sorted_band_matches_reference(monkeypatch, name, causal, block, run):
    """FlexAttention's unfused path evaluates the mask_mod on every pair; _dense_run also checks the
    BlockMask's block lists (full blocks skip the mask)."""
    monkeypatch.setenv("ZOO_FLEX_BLOCK", block)
    p = with_causal(CASES[name], causal)
    rounds = getattr(p, "n_hashes", 1)
    for n in (64, 70, 129):
        q, k, v, kpm = _inputs(n)
        for mask in (None, kpm):
            calls = _sorted_calls(monkeypatch, _dense_run if run == "block_lists" else None)
            with torch.no_grad():
                out = sparse_attention(q, k, v, p, backend="flex", key_padding_mask=mask)
                ref = sparse_attention(q, k, v, p, backend="reference", key_padding_mask=mask)
            assert calls[:2] == ["sorted", rounds * 2]  # every round in one call, rounds stacked on the batch
            assert _rel(out, ref) < 1e-5, (n, mask is not None)


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("causal", [False, True])
def test_sorted_band_gradients_match_reference(monkeypatch, name, causal):
    p = with_causal(CASES[name], causal)
    q, k, v, kpm = _inputs(70, torch.float64, seed=1)
    do = torch.randn(q.shape, dtype=torch.float64)
    for mask in (None, kpm):
        got = []
        for backend in ("flex", "reference"):
            xs = [t.clone().requires_grad_() for t in (q, k, v)]
            calls = _sorted_calls(monkeypatch, _dense_run)
            out = sparse_attention(*xs, p, backend=backend, key_padding_mask=mask)
            got.append((out, *torch.autograd.grad(out, xs, do)))
            assert ("sorted" in calls) == (backend == "flex")
        for a, b in zip(*got):  # fp64, but the component path keeps the window piece's lse in fp32
            assert _rel(a, b) < 1e-6, mask is not None


def test_component_path_when_switched_off_or_decoding(monkeypatch):
    """ZOO_ROUTED_SORTED=0 and queries fewer than keys (a cache) take the component path, one call per
    round, with the same results."""
    p = build("lsh", bucket_size=8, n_hashes=2, chunk=8, causal=True)
    q, k, v, _ = _inputs(70)
    calls = _sorted_calls(monkeypatch)
    with torch.no_grad():
        fast = sparse_attention(q, k, v, p, backend="flex")
        monkeypatch.setenv("ZOO_ROUTED_SORTED", "0")
        off = sparse_attention(q, k, v, p, backend="flex")
        monkeypatch.delenv("ZOO_ROUTED_SORTED")
        tail = sparse_attention(q[:, :, -20:], k, v, p, backend="flex")
    assert calls == ["sorted", 4, 2, 2, 2, 2]  # sorted: one call for both rounds; then one per round, twice
    assert _rel(fast, off) < 1e-6
    assert _rel(tail, off[:, :, -20:]) < 1e-6  # the last 20 queries route the same keys


@pytest.mark.parametrize("name", ["lsh", "anchor"])
def test_values_of_another_head_dim(monkeypatch, name):
    """v's head dim may differ from q's (the dispatcher allows it): outputs have v's."""
    p = with_causal(CASES[name], True)
    q, k, _, kpm = _inputs(70)
    v = torch.randn(2, 2, 70, 8)
    calls = _sorted_calls(monkeypatch)
    with torch.no_grad():
        out = sparse_attention(q, k, v, p, backend="flex", key_padding_mask=kpm)
        ref = sparse_attention(q, k, v, p, backend="reference", key_padding_mask=kpm)
    assert calls[0] == "sorted" and out.shape == (2, 2, 70, 8)
    assert _rel(out, ref) < 1e-5


def test_component_path_keeps_rules_apart_in_the_shared_band_cache(monkeypatch):
    """Routed pieces of one length share their band's block cache: a causal or windowed piece
    after a non-causal lsh one must not reuse its full blocks (which skip the mask)."""
    monkeypatch.setenv("ZOO_ROUTED_SORTED", "0")
    _sorted_calls(monkeypatch, _dense_run)  # honours the block lists (the unfused path evaluates every pair)
    q, k, v, _ = _inputs(512)
    with torch.no_grad():  # chunks of the component path's 128-token blocks: the previous chunk's block is full
        for p in (build("lsh", bucket_size=128, chunk=128), build("lsh", bucket_size=128, chunk=128, causal=True),
                  build("anchor", n_anchors=4, chunk=128, window=4)):
            out = sparse_attention(q, k, v, p, backend="flex")
            ref = sparse_attention(q, k, v, p, backend="reference")
            assert _rel(out, ref) < 1e-5, p.describe()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", ["lsh_chunk_64", "anchor"])
def test_compiled_plumbing_on_cuda_matches_eager_and_components(monkeypatch, name):
    """At sizes where the gathers and the merge run compiled (>= 4M elements), the sorted path equals its
    eager plumbing (ZOO_EAGER_PLUMBING=1: eager gathers and merge, the same fused routing) and the
    component path, forward and gradients (bf16). The routing kernel itself: tests/test_argmax_proj.py."""
    monkeypatch.delenv("ZOO_FLEX_EAGER")  # the fused kernels (read per call)
    p = with_causal(CASES[name], True)
    g = torch.Generator(device="cuda").manual_seed(0)
    q, k, v = (torch.randn(1, 4, 16384, 64, device="cuda", dtype=torch.bfloat16, generator=g) for _ in range(3))
    do = torch.randn_like(q)
    state = {"anchors": torch.nn.functional.normalize(torch.randn(4, 4, 64, device="cuda", generator=g), dim=-1)} \
        if name == "anchor" else {}
    got = []
    for env in ({}, {"ZOO_EAGER_PLUMBING": "1"}, {"ZOO_ROUTED_SORTED": "0"}):
        with monkeypatch.context() as m:
            for key, val in env.items():
                m.setenv(key, val)
            xs = [t.clone().requires_grad_() for t in (q, k, v)]
            out = sparse_attention(*xs, p, backend="flex", **state)
            got.append((out, *torch.autograd.grad(out, xs, do)))
    for other in got[1:]:
        for a, b in zip(got[0], other):
            assert _rel(a.float(), b.float()) < 2e-2


def test_permute_gathers_every_tensor_and_its_gradient_in_one_call():
    """_Permute: shared inputs (S = 1, every round) and per-round ones (S = R), with and without a
    trailing D, against indexing by hand; gradients (fp64 gradcheck) through the inverse permutations."""
    from zoo.attention.kernels.routed import _Permute
    g = torch.Generator().manual_seed(0)
    R, B, H, n = 3, 2, 2, 7
    order = torch.stack([torch.randperm(n, generator=g) for _ in range(R * B * H)]).view(R, B, H, n)
    inv = order.argsort(-1)
    shared = torch.randn(1, B, H, n, 4, dtype=torch.float64, generator=g, requires_grad=True)
    rounds = torch.randn(R, B, H, n, dtype=torch.float64, generator=g, requires_grad=True)
    ys = _Permute.apply(order, inv, shared, rounds)
    for r in range(R):
        for b in range(B):
            for h in range(H):
                assert torch.equal(ys[0][r, b, h], shared[0, b, h, order[r, b, h]])
                assert torch.equal(ys[1][r, b, h], rounds[r, b, h, order[r, b, h]])
    assert torch.autograd.gradcheck(lambda x, y: _Permute.apply(order, inv, x, y), (shared, rounds))
