"""Residue classes as heads (kernels/classes.py): per-class components run on a strided
(B*H, r, n/r, D) view. On CPU through FlexAttention's unfused path, forward only (it has no CPU
backward); gradients are checked on the GPU by tools/gpu_correctness.py at length 1920."""
import pytest
import torch

from zoo.attention import sparse_attention
from zoo.attention.kernels import classes as C
from zoo.attention.kernels import flex
from zoo.attention.kernels.block_mask import component_structure
from zoo.attention.layout import residue_order

from attention_cases import static_patterns, with_causal

PATTERNS = static_patterns()  # strided: stride 5; dilated_window: dilation 3


pytestmark = pytest.mark.usefixtures("eager_flex")  # conftest.py


@pytest.fixture
def class_pieces(monkeypatch):
    """The r of every component that ran as class heads in the last call."""
    seen = []
    run = flex._class_piece

    def spy(comp, q, k, v, r, *rest):
        seen.append(r)
        return run(comp, q, k, v, r, *rest)
    monkeypatch.setattr(flex, "_class_piece", spy)
    return seen


def _rel(a, b):
    return ((a - b).abs().max() / b.abs().max().clamp(min=1.0)).item()


def _qkv(n, seed=0, projected=False):
    """Contiguous (B, H, n, D), or (projected) dense (B, n, H, D) transposed, as the model's
    projection gives them (projection.py)."""
    g = torch.Generator().manual_seed(seed)
    if projected:
        return [torch.randn(2, n, 2, 16, generator=g).transpose(1, 2) for _ in range(3)]
    return [torch.randn(2, 2, n, 16, generator=g) for _ in range(3)]


def _padding(n):
    kpm = torch.ones(2, n, dtype=torch.bool)
    kpm[0, -9:] = False
    kpm[1] = False  # a fully masked sequence
    return kpm


@pytest.mark.parametrize("name,n,r", [("strided", 640, 5), ("strided", 135, 5), ("strided_split", 130, 5),
                                      ("dilated_window", 129, 3)])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("projected", [False, True])
def test_class_heads_match_dense(class_pieces, name, n, r, causal, padded, projected):
    p = with_causal(PATTERNS[name], causal)
    q, k, v = _qkv(n, projected=projected)
    assert C.class_layout(r, q, k, v) == ("heads" if projected else "batch")
    kpm = _padding(n) if padded else None
    with torch.no_grad():
        out = sparse_attention(q, k, v, p, backend="flex", key_padding_mask=kpm)
        ref = sparse_attention(q, k, v, p, backend="dense", key_padding_mask=kpm)
    assert class_pieces == [r]
    assert _rel(out, ref) < 1e-5
    if padded:  # a fully masked sequence gives zeros, not NaN
        assert torch.equal(out[1], torch.zeros_like(out[1]))


@pytest.mark.parametrize("name,n,r", [("strided", 640, 5), ("dilated_window_r2", 512, 2)])
def test_class_heads_on_64_token_blocks(monkeypatch, name, n, r):
    """The block ``fused_block`` picks for the classes (64 on the H200; ZOO_FLEX_BLOCK=64 here),
    causal and padded, against the dense oracle."""
    monkeypatch.setenv("ZOO_FLEX_BLOCK", "64")
    blocks, run = [], flex._class_piece
    monkeypatch.setattr(flex, "_class_piece", lambda *a: blocks.append((a[4], a[7])) or run(*a))
    p, (q, k, v), kpm = with_causal(PATTERNS[name], True), _qkv(n), _padding(n)
    with torch.no_grad():
        out = sparse_attention(q, k, v, p, backend="flex", key_padding_mask=kpm)
        ref = sparse_attention(q, k, v, p, backend="dense", key_padding_mask=kpm)
    assert blocks == [(r, 64)]
    assert _rel(out, ref) < 1e-5


def test_class_heads_switch_off(monkeypatch, class_pieces):
    p, (q, k, v) = PATTERNS["strided"], _qkv(40)
    with torch.no_grad():
        on = sparse_attention(q, k, v, p, backend="flex")
        monkeypatch.setenv("ZOO_NO_CLASS_HEADS", "1")
        off = sparse_attention(q, k, v, p, backend="flex")
    assert class_pieces == [5]  # only the first call, the switch is read per call
    assert _rel(on, off) < 1e-6


@pytest.mark.parametrize("n_q,n_k,k_start", [(131, 131, 0), (7, 45, 0), (30, 30, 15)])
def test_other_shapes_keep_the_gather(class_pieces, n_q, n_k, k_start):
    """Not a multiple of r, fewer queries than keys, or a chunk after a cache: the gather path."""
    p = with_causal(PATTERNS["strided"], True)
    q = _qkv(n_q)[0]
    _, k, v = _qkv(n_k, seed=1)
    with torch.no_grad():
        out = sparse_attention(q, k, v, p, backend="flex", k_start=k_start)
        ref = sparse_attention(q, k, v, p, backend="dense", k_start=k_start)
    assert class_pieces == []
    assert _rel(out, ref) < 1e-5


def test_views_round_trip_without_copies():
    x = torch.randn(2, 3, 20, 4)  # (B, H, n, D), r = 5
    xc = C.to_classes(x, 5)  # (B*H, r, n/r, D)
    assert xc.shape == (6, 5, 4, 4) and xc.data_ptr() == x.data_ptr()
    order, _ = residue_order(0, 20, 5)
    assert torch.equal(xc.unflatten(0, (2, 3)).flatten(2, 3), x.index_select(2, order))
    back = C.from_classes(xc, 2)
    assert torch.equal(back, x) and back.data_ptr() == x.data_ptr()
    out = torch.empty_like(xc.transpose(1, 2)).transpose(1, 2)  # laid out like FlexAttention's output
    assert C.from_classes(out, 2).data_ptr() == out.data_ptr()


def test_heads_view_of_projected_inputs_is_free():
    """A dense (B, n, H, D) layout transposed (the model's projection) views as (B, r*H, n/r, D),
    head c*H + h; the output and log-sum-exp come back the same way."""
    x = torch.randn(2, 20, 3, 4).transpose(1, 2)  # (B, H, n, D) from (B, n, H, D), r = 5
    assert C.class_layout(5, x) == "heads" and C.class_layout(5, x.contiguous()) == "batch"
    assert C.class_layout(5, x, x.contiguous()) == "batch"  # mixed: the copying fallback
    xc = C.to_classes(x, 5, "heads")
    assert xc.shape == (2, 15, 4, 4) and xc.data_ptr() == x.data_ptr()
    assert xc.is_contiguous() is False and xc.stride(1) == 4  # no copy was made
    order, _ = residue_order(0, 20, 5)
    assert torch.equal(xc.unflatten(1, (5, 3)).transpose(1, 2).flatten(2, 3), x.index_select(2, order))
    back = C.from_classes(xc, 2, "heads", 5)
    assert torch.equal(back, x) and back.data_ptr() == x.data_ptr()
    lse = torch.randn(2, 15, 4)  # FlexAttention's (B, r*H, n/r) log-sum-exp: row t of head c*H + h
    want = lse.unflatten(1, (5, 3)).permute(0, 2, 3, 1).flatten(2, 3)
    assert torch.equal(C.from_classes(lse, 2, "heads", 5), want)


def test_per_class_block_lists_repeat_for_the_heads_view():
    """Classes with different candidate ranges keep one block list per class; the heads view
    repeats each for the class's H heads (c*H + h): both views compute the same attention."""
    comp, = PATTERNS["dilated_window"].components(39, 39, 2)  # r = 3, 13 rows per class
    lo, hi = comp.ranges  # (39,) in residue order: class c's rows are c*13 .. c*13 + 12
    hi = hi.clone()
    hi[13:26] = lo[13:26] - 1  # class 1 has no candidate keys (lo > hi): the classes now differ
    uneven = type(comp)(mask=comp.mask, ranges=(lo, hi), exact=False)
    assert C.local_component(uneven, 39, 3).ranges[0].shape == (3, 13)
    local = C.local_component(uneven, 39, 3)
    one = component_structure(local, 13, 13, 13, 13, 4, 4, "cpu", use_full=False)
    rep = component_structure(local, 13, 13, 13, 13, 4, 4, "cpu", use_full=False, head_repeat=2)
    assert one.kv_num_blocks.shape[1] == 3 and rep.kv_num_blocks.shape[1] == 6
    for attr in ("kv_num_blocks", "kv_indices", "q_num_blocks", "q_indices"):  # head c*2 + h reads class c
        assert torch.equal(getattr(rep, attr), getattr(one, attr).repeat_interleave(2, dim=1)), attr
    assert not torch.equal(one.kv_num_blocks[0, 0], one.kv_num_blocks[0, 1])
    # CPU's unfused FlexAttention evaluates the mask on every pair (the lists' order is checked
    # above; tools/gpu_correctness.py runs the kernel): both views compute the same attention
    q, k, v = _qkv(39, projected=True)
    outs = []
    for xs in ((q.contiguous(), k.contiguous(), v.contiguous()), (q, k, v)):  # batch view, heads view
        with torch.no_grad():
            outs.append(flex._class_piece(uneven, *xs, 3, None, 0.25, 4, None)[0])
    assert torch.allclose(outs[0], outs[1], atol=1e-6)


def test_local_ranges_shared_by_classes():
    comp, = PATTERNS["dilated_window"].components(39, 39, 2)  # one exact residue piece, r = 3
    local = C.local_component(comp, 39, 3)
    assert local.ranges[0].shape == (13,)  # every class has the same band: one row
    assert C.local_component(comp, 39, 3) is local  # cached
    assert comp.exact and local.full_blocks(13, 13, 2, 2).any()  # fully allowed tiles skip the mask


@pytest.mark.parametrize("n,classes", [(70, [2]), (71, [])])
@pytest.mark.parametrize("causal", [False, True])
def test_dilation_2_runs_as_class_heads_where_the_length_allows(class_pieces, n, classes, causal):
    """Dilation 2 fuses by family, but at an even length it is two plain windows as heads
    (patterns.runs_fused with a shape); an odd length keeps the fused BlockMask."""
    p = with_causal(PATTERNS["dilated_window_r2"], causal)
    q, k, v = _qkv(n)
    kpm = _padding(n)
    with torch.no_grad():
        out = sparse_attention(q, k, v, p, backend="flex", key_padding_mask=kpm)
        ref = sparse_attention(q, k, v, p, backend="dense", key_padding_mask=kpm)
    assert class_pieces == classes
    assert _rel(out, ref) < 1e-5
    assert torch.equal(out[1], torch.zeros_like(out[1]))


def test_only_patterns_that_can_be_class_heads_build_components_to_decide(monkeypatch):
    """The dispatcher's shape check builds components only for patterns marked
    class_heads_capable (dilated windows): BigBird's fused path must not pay for them."""
    from zoo.attention import build, patterns as P

    def boom(*a, **k):
        raise AssertionError("components built")
    p = build("bigbird", block=4, window_blocks=3, global_blocks=1, random_blocks=1)
    monkeypatch.setattr(type(p), "_components", boom)
    assert P.runs_fused(p, (4096, 4096, 2, 0))
    assert not P.runs_fused(PATTERNS["dilated_window_r2"], (4096, 4096, 2, 0))
