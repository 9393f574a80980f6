"""The FlexAttention kernel tiles kernels/tiles.py chooses, and that every FlexAttention call the
zoo makes (the dispatcher's pieces, a compiled block's in-graph call) receives them."""
from types import SimpleNamespace

import torch

from zoo.attention import build
from zoo.attention.attention import graph_attention
from zoo.attention.kernels import flex
from zoo.attention.kernels.tiles import BWD_TILES, flex_tiles


def _q(device="cuda", dtype=torch.bfloat16, d=64):
    return SimpleNamespace(device=torch.device(device), dtype=dtype, shape=(2, 4, 4096, d))  # deciding needs no GPU


def test_measured_backward_tiles_only_where_measured(monkeypatch):
    assert flex_tiles(_q(), 128) == BWD_TILES and flex_tiles(_q(), (128, 64)) == BWD_TILES
    assert flex_tiles(_q(dtype=torch.float16), 128) == BWD_TILES
    for q, block in ((_q("cpu"), 128), (_q(dtype=torch.float32), 128), (_q(d=128), 128), (_q(), 32), (_q(), (128, 96))):
        assert flex_tiles(q, block) == {}
    assert flex_tiles(_q(), 128, {}) == {} and flex_tiles(_q(), 128, {"BLOCK_M": 32}) == {"BLOCK_M": 32}  # the caller's win
    monkeypatch.setenv("ZOO_FLEX_TILES", "0")
    assert flex_tiles(_q(), 128) == {}


def _tiles_by_block(q, block_size, kernel_options=None):
    return {"block": tuple(block_size)} if kernel_options is None else kernel_options


def test_dispatcher_pieces_receive_the_tiles(monkeypatch):
    """Both kinds of piece: residue classes as heads (dilated_window, r = 3) and a gathered one."""
    seen, real = [], flex._compiled

    def spy(*a, **kw):
        seen.append(kw.get("kernel_options"))
        kw.pop("kernel_options", None)
        return real()(*a, **kw)
    monkeypatch.setattr(flex, "flex_tiles", _tiles_by_block)
    monkeypatch.setattr(flex, "_compiled", lambda: spy)
    monkeypatch.setattr(flex, "flex_complete", lambda q: True)  # the multi-piece path, as on the GPU
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 2, 39, 16, generator=g) for _ in range(3))
    for name in ("dilated_window", "sliding_window"):
        comps = build(name, causal=True).components(39, 39, 2)
        seen.clear()
        try:
            with torch.no_grad():
                flex.flex_attention(q, k, v, comps, scale=0.25)
        except Exception:  # CPU FlexAttention gives no lse; the options were handed over before that
            pass
        assert seen and all(o == {"block": (128, 128)} for o in seen), (name, seen)


def test_in_graph_call_receives_the_tiles(monkeypatch):
    import zoo.attention.attention as A
    monkeypatch.setattr(A, "flex_tiles", _tiles_by_block)
    seen = []

    def attend(q, k, v, block_mask, scale, kernel_options):
        seen.append(kernel_options)
        return torch.zeros_like(q)
    q = torch.zeros(1, 2, 256, 16)
    for name, gm in (("dilated_window", flex.class_block_mask(build("dilated_window", causal=True, left=8, dilation=4),
                                                              256, 2, q.device)),
                     ("sliding_window", flex.fused_block_mask(build("sliding_window", causal=True, left=100),
                                                              256, 2, q.device))):
        assert gm is not None, name
        graph_attention(q, q, q, gm, scale=0.25, causal=True, attend=attend)
        graph_attention(q, q, q, gm, scale=0.25, causal=True, kernel_options={}, attend=attend)
        assert seen[-2:] == [{"block": (128, 128)}, None], (name, seen)
