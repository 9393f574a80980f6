"""The fused path's BlockMask builder (zoo/attention/kernels/block_mask.py) against the
pattern's token mask: every block with an allowed pair is listed, "full" blocks are really full."""
import pytest
import torch

from zoo.attention.kernels import block_mask
from zoo.attention.kernels.flex import _fused_mask_mod

from attention_cases import static_patterns, with_causal

FUSED = {k: p for k, p in static_patterns().items() if p.fused_flex}


@pytest.mark.parametrize("name", list(FUSED))
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("n,block", [(1, 16), (37, 16), (130, 32), (257, 64)])
def test_blocks_cover_exactly_the_token_mask(name, causal, n, block, monkeypatch):
    monkeypatch.setattr(block_mask, "_CHUNK_ELEMENTS", 4 * block * block)  # several query chunks
    p = with_causal(FUSED[name], causal)
    heads = 2 if p.head_groups() > 1 else 1
    mm = _fused_mask_mod(p, n, n, heads, 0, "cpu", None)
    bm = block_mask.block_mask_from_mask_mod(mm, heads, n, n, block, "cpu")
    nqb = -(-n // block)
    partial, full = (t[0] for t in block_mask.listed_blocks(bm, nqb))  # (H, nQB, nKB)
    listed = partial | full
    tok = p.token_mask(n, n).expand(heads, n, n)  # (H, n, n)
    pad = torch.zeros(heads, nqb * block, nqb * block, dtype=torch.bool)
    pad[:, :n, :n] = tok
    tiles = pad.view(heads, nqb, block, nqb, block)
    assert torch.equal(listed, tiles.any(4).any(2))  # nothing allowed is dropped, nothing empty is listed
    inside = torch.zeros_like(pad)
    inside[:, :n, :n] = True
    really_full = (tiles | ~inside.view_as(tiles)).all(4).all(2) & inside.view_as(tiles).all(4).all(2)
    assert not bool((full & ~really_full).any())  # a "full" block skips the mask: it must be full
    assert bool(full.any()) or not bool(really_full.any()) or n < block


def test_build_time_is_recorded():
    p = FUSED["sliding_window"]
    from zoo.attention.kernels.flex import _fused_structure
    _fused_structure.cache_clear()
    _fused_structure(p, 50, 50, 1, 0, 16, "cpu", False)
    assert any(k.startswith(repr(p)) for k in block_mask.BUILD_SECONDS)


@pytest.mark.parametrize("name", ["sliding_window", "longformer", "bigbird", "learned"])
def test_compiled_tile_reduction_matches_eager(name):
    """What CUDA runs (the tile reduction under torch.compile) traces our masks and agrees with
    the eager build; here inductor's CPU backend stands in for Triton."""
    p = FUSED[name]
    heads = 2 if p.head_groups() > 1 else 1
    n, block, rows = 200, 32, 64
    mm = _fused_mask_mod(p, n, n, heads, 0, "cpu", None)
    h = torch.arange(heads)[:, None, None]
    nkb = -(-n // block)
    fn = block_mask._compiled_tiles()
    for c in (0, 2, 6):  # the last chunk runs past n; one compile serves every chunk start
        q0 = torch.tensor(c * block)
        got = fn(mm, h, q0, n, n, rows, nkb, block)
        want = block_mask._tile_tables(mm, h, q0, n, n, rows, nkb, block)
        assert all(torch.equal(a, b) for a, b in zip(got, want))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("heads,n", [(2, 257), (2, 300), (2, 385), (2, 513), (4, 257), (2, 1001)])
def test_compiled_tile_reduction_on_cuda_per_head(heads, n):
    """On sm90 with torch 2.11, reducing the keys and then the rows in two steps compiled wrong for
    two heads or more at an odd number (>= 5) of 64-token blocks: the heads after the first got
    shifted tables (session 18). The compiled build must give the dense per-tile truth."""
    block, dev = 64, "cuda"
    nkb = -(-n // block)

    def band(b, h, q, k):  # a per-head band: head h sees |q - k| <= 40 (h + 1)
        return (q - k).abs() <= 40 * (h + 1)
    h = torch.arange(heads, device=dev)[:, None, None]
    hit, full = block_mask._compiled_tiles()(band, h, torch.tensor(0, device=dev), n, n, nkb * block, nkb, block)
    pos = torch.arange(nkb * block, device=dev)
    tok = band(0, h, pos[:, None], pos[None, :]) & (pos[:, None] < n) & (pos[None, :] < n)  # (H, NK, NK)
    tiles = tok.view(heads, nkb, block, nkb, block)
    assert torch.equal(hit, tiles.any(4).any(2)) and torch.equal(full, tiles.all(4).all(2))


@pytest.mark.parametrize("name", list(FUSED))
@pytest.mark.parametrize("causal", [False, True])
def test_kernel_mask_equals_build_mask(name, causal):
    """The kernel's mask (window sizes as constants) and the BlockMask build's (sizes in a tensor)
    are the same set: the build lists blocks for one, the kernel evaluates the other."""
    p = with_causal(FUSED[name], causal)
    heads = 2 if p.head_groups() > 1 else 1
    n = 300
    qi, ki = torch.arange(n)[:, None], torch.arange(n)[None, :]
    b = torch.zeros((), dtype=torch.long)
    for h in range(heads):
        hh = torch.tensor(h)
        forms = [_fused_mask_mod(p, n, n, heads, 0, "cpu", None, kernel=k)(b, hh, qi, ki) for k in (True, False)]
        assert torch.equal(forms[0], forms[1])
        assert torch.equal(forms[0], p.token_mask(n, n, n_heads=heads)[h if p.head_groups() > 1 else 0])


@pytest.mark.parametrize("dilation", [(1, 1, 2, 2), (1, 2, 1, 3), (2,), (1, 1, 1, 1, 1, 1, 2, 2)])
def test_dilated_kernel_mask_with_constants_equals_the_table_form(dilation):
    """Per-head dilations baked in as constants (the kernel's form) allow exactly the pairs of the
    table form the BlockMask build reads, for every head group, causal or not."""
    from zoo.attention import build
    for causal in (True, False):
        pat = build("dilated_window", causal=causal, left=5, right=0 if causal else 3, dilation=list(dilation))
        table_fn, bufs = pat.mask_parts(64)
        kernel_fn, kbufs = pat.kernel_mask_parts(64)
        assert kbufs == ()
        i, j = torch.meshgrid(torch.arange(64), torch.arange(64), indexing="ij")
        for g in range(len(dilation)):
            gt = torch.tensor(g)
            assert torch.equal(kernel_fn(gt, i, j), table_fn(gt, i, j, *bufs)), (dilation, causal, g)
