"""Work counts used by benchmarks/: block_pairs must count the tiles the kernel of each path runs."""
import pytest
import torch

from zoo.attention import build
from zoo.attention.flops import block_pairs


def _tiles_with_pairs(p, n, heads, block):
    """Tiles that hold at least one allowed pair, from the dense truth (per head group)."""
    i = torch.arange(n).view(-1, 1)
    total = 0
    for h in range(heads):
        g = torch.tensor(h * p.head_groups() // heads)
        ok = p.allowed(g, i, i.T)  # (n, n)
        nb = -(-n // block)
        padded = torch.zeros(nb * block, nb * block, dtype=torch.bool)
        padded[:n, :n] = ok
        total += int(padded.view(nb, block, nb, block).any(3).any(1).sum())
    return total * block * block


@pytest.mark.parametrize("name,kw", [("sliding_window", dict(left=40, right=0, causal=True)),
                                     ("dilated_window", dict(left=30, right=0, dilation=2, causal=True)),
                                     ("bigbird", dict(block=16, window_blocks=3, global_blocks=1, random_blocks=1))])
def test_block_pairs_of_a_fused_pattern_are_its_blockmask_tiles(name, kw):
    """A fused pattern runs one BlockMask: its tiles are exactly those with an allowed pair (an
    odd length, where dilation 2 cannot run as class heads)."""
    p = build(name, **kw)
    assert p.fused_flex
    n, heads = 201, 2
    for block in (32, 64):
        assert block_pairs(p, n, heads, block) == _tiles_with_pairs(p, n, heads, block)


def test_block_pairs_of_dilation_2_as_class_heads_are_each_class_band():
    """At an even length dilation 2 runs as two heads of n/2 tokens, each a plain causal window."""
    p = build("dilated_window", left=30, right=0, dilation=2, causal=True)
    band = build("sliding_window", left=30, right=0, causal=True)
    heads, block = 2, 32
    assert block_pairs(p, 200, heads, block) == 2 * _tiles_with_pairs(band, 100, heads, block)


def test_block_pairs_follow_the_fused_block(monkeypatch):
    """By default a fused pattern's tiles are counted on the blocks it runs (ZOO_FLEX_BLOCK), a
    component pattern's on 128-token ones."""
    win, strided = build("sliding_window", left=100, right=0, causal=True), build("strided", stride=64)
    monkeypatch.delenv("ZOO_FLEX_BLOCK", raising=False)
    assert block_pairs(win, 1000, 2) == _tiles_with_pairs(win, 1000, 2, 128)
    monkeypatch.setenv("ZOO_FLEX_BLOCK", "64")
    assert block_pairs(win, 1000, 2) == _tiles_with_pairs(win, 1000, 2, 64) < _tiles_with_pairs(win, 1000, 2, 128)
    assert block_pairs(strided, 1024, 2) == block_pairs(strided, 1024, 2, 128)
    per_head = build("dilated_window", left=100, dilation=(1, 2), causal=True)  # per-head masks too
    assert per_head.head_groups() == 2 and block_pairs(per_head, 1000, 2) == _tiles_with_pairs(per_head, 1000, 2, 64)


def test_block_pairs_of_joined_fixed_are_its_calls_tiles(monkeypatch):
    """Fixed runs one call over its keys and copies of its summary columns (kernels/joined.py): its
    tiles are those of that call's (n, n + S) mask that hold an allowed pair."""
    from zoo.attention.kernels import joined
    monkeypatch.setattr(joined, "MIN_TOKENS", 2048)
    p, n, heads, block = build("fixed", stride=128, summary=8, causal=True), joined.MIN_TOKENS, 2, 128
    assert joined.applies(p, n, n, 0)
    pos, fn, bufs = p.joined_parts(n)
    ki = torch.arange(n + len(pos))
    ok = joined.mask_mod(fn, bufs, pos, n, 1, heads)(torch.tensor(0), torch.tensor(0), torch.arange(n)[:, None], ki)
    nqb, nkb = n // block, -(-len(ki) // block)
    padded = torch.zeros(nqb * block, nkb * block, dtype=torch.bool)
    padded[:, :len(ki)] = ok
    want = int(padded.view(nqb, block, nkb, block).any(3).any(1).sum()) * block * block * heads
    assert block_pairs(p, n, heads, block) == want
