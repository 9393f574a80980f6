"""Work counts used by benchmarks/: block_pairs must count the tiles the kernel of each path runs."""
import pytest
import torch

from zoo.attention import build
from zoo.attention.flops import block_pairs


def _tiles_with_pairs(p, n, heads, block, skip_rows=0):
    """Tiles that hold at least one allowed pair, from the dense truth (per head group), leaving
    out the first ``skip_rows`` query rows."""
    i = torch.arange(n).view(-1, 1)
    total = 0
    for h in range(heads):
        g = torch.tensor(h * p.head_groups() // heads)
        ok = p.allowed(g, i, i.T) & (i >= skip_rows)  # (n, n)
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
    n, heads, block = 201, 2, 32
    assert block_pairs(p, n, heads, block) == _tiles_with_pairs(p, n, heads, block)


def test_block_pairs_of_dilation_2_as_class_heads_are_each_class_band():
    """At an even length dilation 2 runs as two heads of n/2 tokens, each a plain causal window."""
    p = build("dilated_window", left=30, right=0, dilation=2, causal=True)
    band = build("sliding_window", left=30, right=0, causal=True)
    heads, block = 2, 32
    assert block_pairs(p, 200, heads, block) == 2 * _tiles_with_pairs(band, 100, heads, block)


def test_block_pairs_of_longformer_count_its_global_rows_apart(monkeypatch):
    """Global rows leave the BlockMask; their tiles: every key tile of each key chunk, one query
    tile per chunk. The rest keep the tiles with an allowed pair."""
    from zoo.attention.kernels import split_keys
    monkeypatch.setattr(split_keys, "MIN_CHUNK", 64)
    p = build("longformer", window=20, global_tokens=5)
    n, heads, block = 256, 2, 32  # 4 chunks of 64 keys, 2 tiles each
    rows = 4 * 2 * block * block * heads
    assert block_pairs(p, n, heads, block) == _tiles_with_pairs(p, n, heads, block, skip_rows=5) + rows
