"""Data-dependent patterns (lsh, anchor) against independent dense oracles, and the anchor router.

The oracles recompute buckets / clusters, the (bucket, position) sort (numpy lexsort), chunk
membership, the causal and self rules and the round merge from the definitions in routing.py,
in fp64 on N x N matrices, and compare forward and gradients with backend="reference".
"""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from zoo.attention import SparseSelfAttention, build, sparse_attention
from zoo.attention.anchors import AnchorRouter, ema_update, routing_aux_loss, spherical_kmeans
from zoo.attention.routing import make_router

LENGTHS = [1, 7, 128, 257]
B, H, D = 2, 2, 8


def _inputs(n_q, n_k=None, seed=0, dtype=torch.float64):
    n_k = n_q if n_k is None else n_k
    g = torch.Generator().manual_seed(seed + 1000 * n_k + n_q)
    q = torch.randn(B, H, n_q, D, generator=g, dtype=dtype)
    k = torch.randn(B, H, n_k, D, generator=g, dtype=dtype)
    v = torch.randn(B, H, n_k, D, generator=g, dtype=dtype)
    return [t.requires_grad_() for t in (q, k, v)]


def _padding(n):
    """Example 0: padded head and tail; example 1: real everywhere but one key."""
    m = torch.ones(B, n, dtype=torch.bool)
    m[0, : max(1, n // 10)] = False
    m[0, n - n // 4:] = False
    m[1, n // 2] = False
    return m


def _rel(a, b):
    return ((a - b).abs().max() / b.abs().max().clamp(min=1.0)).item()


def _chunk_ids(groups: torch.Tensor, chunk: int) -> torch.Tensor:
    """groups (B, H, N) -> chunk index of every position after a (group, position) sort."""
    g = groups.numpy()
    out = np.empty(g.shape, dtype=np.int64)
    pos = np.arange(g.shape[-1])
    for b in range(g.shape[0]):
        for h in range(g.shape[1]):
            order = np.lexsort((pos, g[b, h]))  # primary key: group, then position
            rank = np.empty_like(order)
            rank[order] = pos
            out[b, h] = rank // chunk
    return torch.from_numpy(out)


def _softmax_piece(q, k, v, allowed, bias):
    """Masked softmax attention in fp64 -> (out, lse); rows without keys: zeros, lse = -inf."""
    s = torch.einsum("bhid,bhjd->bhij", q, k) / math.sqrt(q.shape[-1]) + bias
    s = s.masked_fill(~allowed, float("-inf"))
    lse = torch.logsumexp(s, dim=-1)
    p = torch.exp(s - torch.where(torch.isfinite(lse), lse, 0.0)[..., None]).masked_fill(~allowed, 0.0)
    return p @ v, lse


def _grid(n_q, n_k, k_start):
    i = torch.arange(k_start + n_k - n_q, k_start + n_k)[:, None]
    j = torch.arange(k_start, k_start + n_k)[None, :]
    return i, j


def lsh_oracle(q, k, v, p, kpm=None, k_start=0):
    n_q, n_k = q.shape[2], k.shape[2]
    nb = math.ceil(n_k / p.bucket_size)
    nb = max(2, nb + (nb % 2))
    rot = torch.randn(H, D, p.n_hashes, nb // 2, generator=torch.Generator().manual_seed(p.seed)).double()
    i, j = _grid(n_q, n_k, k_start)
    outs, lses = [], []
    for r in range(p.n_hashes):
        proj = torch.einsum("bhnd,hde->bhne", k.detach(), rot[:, :, r])
        chunks = _chunk_ids(torch.cat([proj, -proj], -1).argmax(-1), p.chunk)  # (B, H, Nk)
        ci, cj = chunks[..., n_k - n_q:, None], chunks[..., None, :]
        allowed = (cj == ci) | (cj == ci - 1)
        if p.causal:
            allowed = allowed & (j <= i)
        if kpm is not None:
            allowed = allowed & kpm[:, None, None, :]
        out, lse = _softmax_piece(q, k, v, allowed, -1e5 * (i == j).double())
        outs.append(out)
        lses.append(lse)
    lse = torch.stack(lses)  # (R, B, H, Nq)
    total = torch.logsumexp(lse, 0)
    w = torch.where(torch.isfinite(lse), torch.exp(lse - torch.where(torch.isfinite(total), total, 0.0)), 0.0)
    return sum(w[r][..., None] * outs[r] for r in range(p.n_hashes))


def anchor_oracle(q, k, v, p, anchors, kpm=None, k_start=0):
    n_q, n_k = q.shape[2], k.shape[2]
    a = F.normalize(anchors.double(), dim=-1)
    a = a[None].expand(B, -1, -1, -1) if a.dim() == 3 else a
    clusters = torch.einsum("bhnd,bhad->bhna", F.normalize(k.detach(), dim=-1), a).argmax(-1)
    chunks = _chunk_ids(clusters, p.chunk)
    ci, cj = chunks[..., n_k - n_q:, None], chunks[..., None, :]
    i, j = _grid(n_q, n_k, k_start)
    if p.causal:
        window = (i - j >= 0) & (i - j < p.window)
    else:
        window = (i - j).abs() <= p.window // 2
    allowed = (cj == ci) | (cj == ci - 1) | window  # one softmax over the union
    if p.causal:
        allowed = allowed & (j <= i)
    if kpm is not None:
        allowed = allowed & kpm[:, None, None, :]
    return _softmax_piece(q, k, v, allowed, 0.0)[0]


def _check(out_fn, ref_fn, q, k, v):
    out, ref = out_fn(), ref_fn()
    assert torch.isfinite(out).all()
    assert _rel(out, ref) < 1e-10
    loss = lambda o: (o * o).sum() + o.sum()  # noqa: E731
    go = torch.autograd.grad(loss(out), (q, k, v))
    gr = torch.autograd.grad(loss(ref), (q, k, v))
    for a, b in zip(go, gr):
        assert torch.isfinite(a).all()
        assert _rel(a, b) < 1e-10


# --- LSH ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("n_hashes", [1, 2])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("padded", [False, True])
def test_lsh_matches_oracle(n_hashes, causal, n, padded):
    p = build("lsh", causal=causal, bucket_size=8, n_hashes=n_hashes, chunk=6, seed=3)  # chunks straddle blocks
    q, k, v = _inputs(n)
    kpm = _padding(n) if padded else None
    _check(lambda: sparse_attention(q, k, v, p, key_padding_mask=kpm, backend="reference"),
           lambda: lsh_oracle(q, k, v, p, kpm), q, k, v)


def test_lsh_fewer_queries_than_keys():
    p = build("lsh", causal=True, bucket_size=4, n_hashes=2, chunk=4)
    q, k, v = _inputs(5, 41)
    _check(lambda: sparse_attention(q, k, v, p, backend="reference", k_start=3),
           lambda: lsh_oracle(q, k, v, p, k_start=3), q, k, v)


@pytest.mark.parametrize("n_hashes", [1, 3])
def test_lsh_self_only_when_alone(n_hashes):
    """One chunk holding everything: plain softmax without the diagonal; duplicated rounds merge
    to the same output; the first causal token, alone, attends itself."""
    n = 9
    q, k, v = _inputs(n)
    i, j = _grid(n, n, 0)
    for causal in (False, True):
        p = build("lsh", causal=causal, bucket_size=4, n_hashes=n_hashes, chunk=64)
        out = sparse_attention(q, k, v, p, backend="reference")
        allowed = (i != j) & ((j <= i) if causal else True)
        ref = _softmax_piece(q, k, v, allowed.expand(B, H, n, n), 0.0)[0]
        if causal:
            ref[:, :, 0] = v[:, :, 0]
        assert _rel(out, ref) < 1e-10


def test_lsh_buckets_rules():
    p = build("lsh", bucket_size=8, n_hashes=2, chunk=8, seed=1)
    assert [p.n_buckets(n) for n in (1, 7, 16, 17, 128, 257)] == [2, 2, 2, 4, 16, 34]
    k = torch.randn(B, H, 50, D)
    bk = p.buckets(k)
    assert bk.shape == (2, B, H, 50) and bk.dtype == torch.int64
    assert bk.min() >= 0 and bk.max() < p.n_buckets(50)
    assert torch.equal(bk, p.buckets(k)) and torch.equal(bk, p.buckets(k * 3.0))  # seeded, angular
    assert not torch.equal(bk, build("lsh", bucket_size=8, n_hashes=2, chunk=8, seed=2).buckets(k))
    comps = p.route(k, k)
    assert len(comps) == 2 and comps[0].q_pos.shape == (B, H, 50) and comps[0].q_pos.dtype == torch.int64
    # each round's positions are a permutation sorted by (bucket, position)
    pos = comps[1].k_pos
    assert torch.equal(pos.sort(-1).values, torch.arange(50).expand(B, H, 50))
    key = torch.gather(bk[1], -1, pos) * 100 + pos
    assert (key.diff(dim=-1) > 0).all()


@pytest.mark.parametrize("n,chunk", [(1, 4), (20, 4), (37, 5), (257, 64)])
def test_chunk_band_ranges_are_exactly_own_and_previous_chunk(n, chunk):
    """The ranges double as the kernels' "full block" test (exact components): token-exact."""
    comp = build("lsh", bucket_size=4, chunk=chunk).route(*_inputs(n)[:2])[0]
    lo, hi = comp.ranges
    s = torch.arange(n)
    d = s[:, None] // chunk - s[None, :] // chunk
    near = (d == 0) | (d == 1)
    assert torch.equal(near, (s[None, :] >= lo[:, None]) & (s[None, :] <= hi[:, None]))


def test_lsh_in_module():
    m = SparseSelfAttention(32, 4, build("lsh", bucket_size=4, n_hashes=2, chunk=4, causal=True))
    assert m.shared_qk and m.router is None
    x = torch.randn(2, 23, 32, requires_grad=True)
    m(x).square().sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


# --- anchor -------------------------------------------------------------------------------------
def _anchors(seed=5, A=4):
    return torch.randn(H, A, D, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("padded", [False, True])
def test_anchor_matches_oracle(causal, n, padded):
    p = build("anchor", causal=causal, n_anchors=4, chunk=12, window=5)
    q, k, v = _inputs(n, seed=1)
    kpm = _padding(n) if padded else None
    a = _anchors()
    _check(lambda: sparse_attention(q, k, v, p, key_padding_mask=kpm, backend="reference", anchors=a),
           lambda: anchor_oracle(q, k, v, p, a, kpm), q, k, v)


@pytest.mark.parametrize("window", [0, 1, 4])
def test_anchor_windows_and_fewer_queries(window):
    a = _anchors(A=3)
    for causal in (False, True):
        p = build("anchor", causal=causal, n_anchors=3, chunk=4, window=window)
        q, k, v = _inputs(37, seed=2)
        _check(lambda: sparse_attention(q, k, v, p, backend="reference", anchors=a),
               lambda: anchor_oracle(q, k, v, p, a), q, k, v)
    q, k, v = _inputs(6, 30, seed=3)  # a chunk of queries against a longer cache
    _check(lambda: sparse_attention(q, k, v, p, backend="reference", anchors=a, k_start=2),
           lambda: anchor_oracle(q, k, v, p, a, k_start=2), q, k, v)


def test_anchor_without_state_runs_seeded_kmeans():
    p = build("anchor", n_anchors=4, chunk=8, window=3, causal=True, kmeans_iters=3, seed=7)
    q, k, v = _inputs(64, seed=4)
    per_example = spherical_kmeans(F.normalize(k.detach(), dim=-1), 4, 3, 7)  # (B, H, A, D)
    assert per_example.shape == (B, H, 4, D)
    _check(lambda: sparse_attention(q, k, v, p, backend="reference"),
           lambda: anchor_oracle(q, k, v, p, per_example), q, k, v)
    out = sparse_attention(q, k, v, p, backend="reference")
    assert torch.equal(out, sparse_attention(q, k, v, p, backend="reference"))  # deterministic
    # batch-independent: an example routes the same alone
    alone = sparse_attention(q[:1], k[:1], v[:1], p, backend="reference")
    assert _rel(alone, out[:1]) < 1e-12


def test_spherical_kmeans_improves_and_skips_padding():
    g = torch.Generator().manual_seed(0)
    centers = F.normalize(torch.randn(3, D, generator=g), dim=-1)
    x = F.normalize(centers[torch.arange(90) % 3] + 0.1 * torch.randn(90, D, generator=g), dim=-1)
    x = x.view(1, 1, 90, D)

    def objective(a):
        return (x[0, 0] @ a[0, 0].T).max(-1).values.sum()
    assert objective(spherical_kmeans(x, 3, 5, 0)) >= objective(spherical_kmeans(x, 3, 0, 0)) - 1e-6
    assert torch.allclose(spherical_kmeans(x, 3, 5, 0).norm(dim=-1), torch.ones(1, 1, 3))
    w = torch.zeros(1, 1, 90, dtype=torch.bool)
    w[..., 10:13] = True  # only three real points: they must be the initial anchors
    a0 = spherical_kmeans(x, 3, 0, 0, weight=w)
    assert torch.allclose(a0[0, 0].sort(0).values, x[0, 0, 10:13].sort(0).values)


def test_ema_update_moves_anchors_toward_assigned_mean():
    g = torch.Generator().manual_seed(0)
    anchors = F.normalize(torch.randn(H, 3, D, generator=g), dim=-1)
    x = F.normalize(torch.randn(B, H, 20, D, generator=g), dim=-1)
    clusters = torch.randint(0, 2, (B, H, 20), generator=g)  # anchor 2 gets nothing
    kpm = torch.ones(B, 20, dtype=torch.bool)
    kpm[:, 15:] = False
    old = anchors.clone()
    counts = ema_update(anchors, x, clusters, 0.9, kpm)
    for h in range(H):
        for c in range(2):
            sel = (clusters[:, h] == c) & kpm
            mean = x[:, h][sel].mean(0)
            assert counts[h, c] == sel.sum()
            assert torch.allclose(anchors[h, c], F.normalize(0.9 * old[h, c] + 0.1 * mean, dim=0), atol=1e-6)
            assert F.cosine_similarity(anchors[h, c], mean, 0) > F.cosine_similarity(old[h, c], mean, 0)
        assert torch.equal(anchors[h, 2], old[h, 2])
    fresh = old.clone()
    ema_update(fresh, x, clusters, 0.0)  # decay 0: exactly the normalised mean
    assert torch.allclose(fresh[0, 0], F.normalize(x[:, 0][clusters[:, 0] == 0].mean(0), dim=0), atol=1e-6)


def test_anchor_router_trains_in_module():
    torch.manual_seed(0)
    p = build("anchor", n_anchors=4, chunk=8, window=4, causal=True)
    m = SparseSelfAttention(32, 4, p)
    assert isinstance(m.router, AnchorRouter) and "router.anchors" in dict(m.named_buffers())
    assert make_router(build("lsh"), 4, 8) is None
    x = torch.randn(2, 40, 32)
    kpm = torch.ones(2, 40, dtype=torch.bool)
    kpm[1, 30:] = False
    m.train()
    m(x, key_padding_mask=kpm).square().sum().backward()  # first call: k-means initialisation
    assert bool(m.router.initialized) and m.qkv.weight.grad is not None
    before = m.router.anchors.clone()
    m(x).sum().backward()
    assert not torch.equal(before, m.router.anchors)  # EMA moved them
    assert torch.allclose(m.router.anchors.norm(dim=-1), torch.ones(4, 4))
    m.eval()
    frozen = m.router.anchors.clone()
    with torch.no_grad():
        y1, y2 = m(x), m(x)
    assert torch.equal(frozen, m.router.anchors) and torch.equal(y1, y2)
    # a checkpoint round trip routes identically
    m2 = SparseSelfAttention(32, 4, p)
    m2.load_state_dict(m.state_dict())
    m2.eval()
    with torch.no_grad():
        assert torch.equal(m2(x), y1)


def test_uninitialised_router_in_eval_acts_functional():
    p = build("anchor", n_anchors=4, chunk=8, window=4)
    m = SparseSelfAttention(32, 4, p).eval()
    x = torch.randn(2, 24, 32)
    with torch.no_grad():
        m(x)
    assert not bool(m.router.initialized)


def test_learned_anchors_get_gradient_through_aux_loss():
    p = build("anchor", n_anchors=4, chunk=8, window=4, learned=True)
    m = SparseSelfAttention(32, 4, p)
    assert isinstance(m.router.anchors, torch.nn.Parameter)
    x = torch.randn(2, 40, 32)
    m(x)  # initialisation step
    before = m.router.anchors.detach().clone()
    out = m(x)
    aux = routing_aux_loss(m)
    assert torch.is_tensor(aux) and aux.item() >= 0
    (out.square().mean() + aux).backward()
    assert m.router.anchors.grad is not None and m.router.anchors.grad.abs().sum() > 0
    assert torch.equal(before, m.router.anchors.detach())  # no EMA when learned
    m.eval()
    m(x)
    assert m.router.aux_loss is None


# --- parameters ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name,params,word", [
    ("lsh", {"bucket_size": 0}, "bucket_size"),
    ("lsh", {"n_hashes": 0}, "n_hashes"),
    ("lsh", {"chunk": 0}, "chunk"),
    ("lsh", {"seed": -1}, "seed"),
    ("anchor", {"n_anchors": 0}, "n_anchors"),
    ("anchor", {"chunk": -2}, "chunk"),
    ("anchor", {"window": -1}, "window"),
    ("anchor", {"decay": 1.0}, "decay"),
    ("anchor", {"kmeans_iters": -1}, "kmeans_iters"),
    ("anchor", {"learned": "yes"}, "learned"),
])
def test_bad_parameters_name_the_parameter(name, params, word):
    with pytest.raises(ValueError, match=word):
        build(name, **params)


def test_bad_routing_state_is_rejected():
    q, k, v = _inputs(10)
    p = build("anchor", n_anchors=4, chunk=4, window=2)
    with pytest.raises(ValueError, match="anchors"):
        sparse_attention(q, k, v, p, backend="reference", anchors=torch.randn(H, 5, D))
    with pytest.raises(ValueError, match="clusters"):
        sparse_attention(q, k, v, p, backend="reference", clusters=torch.zeros(B, H, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="routing state"):
        sparse_attention(q, k, v, build("lsh"), backend="reference", anchors=torch.randn(H, 4, D))


def test_lsh_alone_rows_exact_in_fp32():
    """Causal LSH: early positions see only themselves. Their rows must equal v_self exactly in
    fp32 (a -1e5 self bias inside the softmax left them ~5e-3 off, and their gradients ~1e-2)."""
    from zoo.attention.kernels.reference import reference_attention
    p = build("lsh", bucket_size=8, n_hashes=2, chunk=8, causal=True)
    g = torch.Generator().manual_seed(7)
    q, k, v = (torch.randn(2, 2, 70, 16, generator=g, dtype=torch.float64).requires_grad_() for _ in range(3))
    comps = p.route(q.detach().float(), k.detach().float())
    out64, _ = reference_attention(q, k, v, comps, scale=0.25)
    q32, k32, v32 = (t.detach().float().requires_grad_() for t in (q, k, v))
    out32, _ = reference_attention(q32, k32, v32, comps, scale=0.25)
    assert torch.equal(out32[:, :, 0], v32[:, :, 0])  # position 0 is alone in every round
    assert (out32.double() - out64).abs().max() < 1e-5
    g64 = torch.autograd.grad((out64 ** 2).sum(), (q, k, v))
    g32 = torch.autograd.grad((out32 ** 2).sum(), (q32, k32, v32))
    for a, b in zip(g32, g64):
        assert (a.double() - b).abs().max() / b.abs().max() < 1e-5


@pytest.mark.parametrize("name", ["lsh", "anchor"])
@pytest.mark.parametrize("causal", [False, True])
def test_routed_full_blocks_are_fully_allowed(name, causal):
    """A block the flex kernel runs as "full" skips the mask: every pair in it must be allowed,
    self included where LSH masks it (with tiles = chunk, the diagonal blocks lie inside the band)."""
    p = build(name, chunk=16, causal=causal, **({"bucket_size": 16} if name == "lsh" else {"n_anchors": 4}))
    q, k = torch.randn(2, 2, 70, 8), torch.randn(2, 2, 70, 8)
    comp = p.route(q, k)[0]
    bs = 16
    blocks, full = comp.blocks(70, 70, bs, bs), comp.full_blocks(70, 70, bs, bs)
    if causal or name == "anchor":  # masks by position (causal, the anchor's window): nothing is full
        assert full is None
        return
    assert full.any()
    qa, ka = comp.q_pos, comp.k_pos  # (B, H, N) sorted positions
    for b in range(2):
        for h in range(2):
            ok = comp.mask(b, h, qa[b, h][:, None], ka[b, h][None, :])
            if comp.diag_bias:
                ok = ok & (qa[b, h][:, None] != ka[b, h][None, :])
            for qb, slot in full[0].nonzero().tolist():
                kb = int(blocks[0, qb, slot])
                assert ok[qb * bs:(qb + 1) * bs, kb * bs:(kb + 1) * bs].all(), (b, h, qb, kb)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("n_q,n_k,k_start", [(40, 40, 0), (7, 40, 0), (7, 40, 13), (40, 40, 9)])
def test_anchor_window_piece_runs_as_its_fused_pattern(eager_flex, causal, n_q, n_k, k_start):
    """Anchor's window piece names the sliding-window pattern that FlexAttention on the GPU runs in its
    place (kernels/flex.py, with the caller's key_padding_mask and k_start): that pattern's fused
    BlockMask (FlexAttention's unfused CPU path) gives the piece's reference output, padded or not,
    with a cache (fewer queries than keys) and an offset."""
    from zoo.attention.kernels.flex import fused_flex_attention
    from zoo.attention.kernels.reference import reference_attention
    p = build("anchor", causal=causal, n_anchors=3, chunk=4, window=6)
    q, k, v = (x.detach().float() for x in _inputs(n_q, n_k, seed=4))
    kpm = torch.ones(B, n_k, dtype=torch.bool)
    kpm[0, :5] = False
    kpm[-1, -3:] = False
    win = [c for c in p.route(q, k, k_start=k_start, anchors=_anchors(A=3)) if c.fused is not None]
    assert len(win) == 1 and win[0].band is None
    for mask in (None, kpm):
        want = reference_attention(q, k, v, win, scale=D ** -0.5, key_padding_mask=mask, k_start=k_start)[0]
        got = fused_flex_attention(q, k, v, win[0].fused, scale=D ** -0.5, key_padding_mask=mask, k_start=k_start)[0]
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
