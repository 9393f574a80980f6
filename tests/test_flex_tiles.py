"""The FlexAttention kernel tiles kernels/tiles.py chooses, and that every FlexAttention call the
zoo makes (the dispatcher's pieces, a compiled block's in-graph call) receives them."""
from types import SimpleNamespace

import pytest
import torch

from zoo.attention import build
from zoo.attention.attention import graph_attention
from zoo.attention.kernels import flex
from zoo.attention.kernels.tiles import BWD_TILES, BWD_TILES_32, FWD_TILES_64, flex_tiles, fused_block


def _q(device="cuda:0", dtype=torch.bfloat16, d=64, n=4096):
    return SimpleNamespace(device=torch.device(device), dtype=dtype, shape=(2, 4, n, d))  # deciding needs no GPU


def test_measured_backward_tiles_only_where_measured(monkeypatch):
    from zoo.attention.kernels import tiles
    monkeypatch.delenv("ZOO_FLEX_TILES", raising=False)
    monkeypatch.delenv("ZOO_FLEX_BWD32", raising=False)
    arch = {0: (9, 0), 1: (8, 0)}  # GPU 0 an H200's sm90, GPU 1 another architecture
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda i=0: arch[i])
    monkeypatch.setattr(torch.version, "hip", None)
    assert flex_tiles(_q(), 128) == BWD_TILES and flex_tiles(_q(), (128, 64)) == BWD_TILES
    for q, block in ((_q("cpu"), 128), (_q(dtype=torch.float32), 128), (_q(dtype=torch.float16), 128),
                     (_q(d=128), 128), (_q(), 32), (_q(), (128, 96)), (_q("cuda:1"), 128)):
        assert flex_tiles(q, block) == {}, (q, block)
    monkeypatch.setattr(torch.version, "hip", "6.2")  # ROCm also says "cuda"
    assert not tiles._measured_gpu(0)
    monkeypatch.setattr(torch.version, "hip", None)
    assert flex_tiles(_q(), 128, {}) == {} and flex_tiles(_q(), 128, {"BLOCK_M": 32}) == {"BLOCK_M": 32}  # the caller's win
    # 64-token blocks: 64-row forward tiles and 32-row backward steps (rows32=False: the key-copies calls that lost)
    assert flex_tiles(_q(), 64) == {**BWD_TILES, **FWD_TILES_64, **BWD_TILES_32}
    assert flex_tiles(_q(), 64, rows32=False) == {**BWD_TILES, **FWD_TILES_64}
    monkeypatch.setenv("ZOO_FLEX_BWD32", "0")
    assert flex_tiles(_q(), 64) == {**BWD_TILES, **FWD_TILES_64}
    monkeypatch.delenv("ZOO_FLEX_BWD32")
    assert flex_tiles(_q(n=127), 64) == BWD_TILES  # (fused_block gives fewer queries 128-token blocks)
    monkeypatch.setenv("ZOO_FLEX_TILES", "0")
    assert flex_tiles(_q(), 128) == {} and flex_tiles(_q(), 64) == {}


def test_64_token_blocks_only_where_they_run(monkeypatch):
    """64-token blocks by default where flex_tiles gives 64-wide tiles (torch 2.11's own do not divide
    them), on the CPU only with ZOO_FLEX_BLOCK=64, for 128 queries or more (flex decoding's tile has up
    to 128 rows); 128 everywhere else, and everywhere with ZOO_FLEX_BLOCK=128."""
    arch = {0: (9, 0), 1: (8, 0)}
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda i=0: arch[i])
    monkeypatch.setattr(torch.version, "hip", None)
    monkeypatch.delenv("ZOO_FLEX_TILES", raising=False)
    gpu, cpu, bf16 = torch.device("cuda:0"), torch.device("cpu"), torch.bfloat16
    never = ((gpu, bf16, 127, 64), (gpu, torch.float32, 4096, 64), (gpu, bf16, 4096, 128),
             (torch.device("cuda:1"), bf16, 4096, 64), (cpu, bf16, 100, 64))
    for setting in (None, "64"):
        if setting is None:
            monkeypatch.delenv("ZOO_FLEX_BLOCK", raising=False)
        else:
            monkeypatch.setenv("ZOO_FLEX_BLOCK", setting)
        assert fused_block(gpu, bf16, 4096, 64) == 64 and fused_block(gpu, bf16, 128, 64) == 64
        assert fused_block(cpu, torch.float32, 128, 16) == (64 if setting else 128)
        for args in never:
            assert fused_block(*args) == 128, (setting, args)
    monkeypatch.setenv("ZOO_FLEX_BLOCK", "128")
    assert fused_block(gpu, bf16, 4096, 64) == 128 and fused_block(cpu, bf16, 4096, 64) == 128
    monkeypatch.delenv("ZOO_FLEX_BLOCK")
    monkeypatch.setenv("ZOO_FLEX_TILES", "0")
    assert fused_block(gpu, bf16, 4096, 64) == 128
    monkeypatch.setenv("ZOO_FLEX_BLOCK", "32")
    with pytest.raises(ValueError, match=r"ZOO_FLEX_BLOCK must be one of \(64, 128\), got '32'"):
        fused_block(gpu, bf16, 4096, 64)


def _tiles_by_block(q, block_size, kernel_options=None, rows32=True):
    return ({"block": tuple(block_size), **({} if rows32 else {"rows32": False})} if kernel_options is None
            else kernel_options)


def test_joined_and_copies_calls_take_32_row_steps_where_they_won(eager_flex, monkeypatch):
    """Where appended key copies walk every query block, the backward's 32-row steps are taken only where
    they won (session 27, attention_h200.json run 62): Longformer's global copies yes, BigBird's no; fixed
    joined below JOINED_ROWS32_BELOW tokens, not from it on."""
    from zoo.attention.kernels import global_copies as gc
    from zoo.attention.kernels import tiles
    assert tiles.COPIES_ROWS32 == {"longformer"} and tiles.JOINED_ROWS32_BELOW == 65536
    asked = []
    monkeypatch.setattr(flex, "flex_tiles", lambda q, block, opts=None, rows32=True: asked.append(rows32) or {})
    monkeypatch.setattr(gc, "SPLIT", 128)
    monkeypatch.setattr(gc, "MIN_TOKENS", 0)
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 2, 640, 8, generator=g) for _ in range(3))
    fixed = build("fixed", stride=64, summary=8, causal=True)
    with torch.no_grad():
        flex.joined_flex_attention(q, k, v, fixed, scale=0.3)
        monkeypatch.setattr(tiles, "JOINED_ROWS32_BELOW", 640)
        flex.joined_flex_attention(q, k, v, fixed, scale=0.3)
        for p in (build("longformer", window=6, global_tokens=3),
                  build("bigbird", block=16, window_blocks=3, global_blocks=1, random_blocks=1)):
            flex._copies_attention(q, k, v, p, gc.plan(p, 640, 640, 0, 128, grad=True), None, 0.3, None)
    assert asked == [True, False, True, False]


def test_dispatcher_pieces_receive_the_tiles(monkeypatch):
    """Both kinds of piece: residue classes as heads (dilation 3 at 39 tokens: 3 classes of 13) and a
    gathered one (a sliding window)."""
    from torch.nn.attention.flex_attention import flex_attention as eager  # CPU: lse needs the eager path
    seen, class_pieces = [], []

    def spy(*a, **kw):
        seen.append(kw.pop("kernel_options", None))
        return eager(*a, **kw)
    monkeypatch.setattr(flex, "flex_tiles", _tiles_by_block)
    monkeypatch.setattr(flex, "_compiled", lambda: spy)
    monkeypatch.setattr(flex, "flex_complete", lambda q: True)  # the multi-piece path, as on the GPU
    real_piece = flex._class_piece
    monkeypatch.setattr(flex, "_class_piece", lambda *a: class_pieces.append(a[4]) or real_piece(*a))
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 2, 39, 16, generator=g) for _ in range(3))
    for name, kw in (("dilated_window", dict(left=6, dilation=3)), ("sliding_window", dict(left=6))):
        comps = build(name, causal=True, **kw).components(39, 39, 2)
        seen.clear()
        with torch.no_grad():
            flex.flex_attention(q, k, v, comps, scale=0.25)
        assert seen and all(o == {"block": (128, 128)} for o in seen), (name, seen)
    assert class_pieces == [3]  # the dilated window ran as 3 class heads


def test_in_graph_call_receives_the_tiles(monkeypatch):
    import zoo.attention.attention as A
    monkeypatch.delenv("ZOO_FLEX_BLOCK", raising=False)
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


def test_deciding_the_architecture_leaves_no_graph_break(monkeypatch):
    """A compiled block's graph calls flex_tiles while it traces: the architecture check is a constant."""
    from torch._dynamo.utils import counters

    from zoo.attention.kernels import tiles
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda i=0: (9, 0))
    counters.clear()
    f = torch.compile(lambda x: x + float(tiles._measured_gpu(0)), backend="eager", fullgraph=True)
    assert f(torch.zeros(2)).tolist() == [1.0, 1.0]
    assert sum(counters["graph_break"].values()) == 0


def _torchs_own_configs(monkeypatch, choices) -> None:
    """torch's own get_flex_attention_bwd_configs until the test ends (an earlier test may have wrapped it)."""
    current = choices.get_flex_attention_bwd_configs
    monkeypatch.setattr(choices, "get_flex_attention_bwd_configs",
                        current.__wrapped__ if getattr(current, "_zoo_pinned", False) else current)


def test_backward_lowering_judges_the_pinned_tiles(monkeypatch):
    """torch 2.11 filters its default backward configs (64 x 128 on sm90) against the BlockMask's
    blocks before a caller's kernel_options apply: the flex backward lowering, when its kernel_options
    pin all four backward tiles, is handed configs carrying them (so 64-token blocks pass with
    BWD_TILES); any other call, or other caller, gets torch's configs unchanged."""
    from torch._inductor.choices import InductorChoices

    from zoo.attention.kernels.tiles import install_backward_filter_fix
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda i=None: (9, 0))
    _torchs_own_configs(monkeypatch, InductorChoices)
    install_backward_filter_fix()
    install_backward_filter_fix()  # once: a second call must not wrap the wrapper
    fields = ("block_m1", "block_n1", "block_m2", "block_n2")

    def configs():
        return [tuple(getattr(c, f) for f in fields) + (c.num_warps,)
                for c in InductorChoices().get_flex_attention_bwd_configs(64, torch.bfloat16, "cuda")]

    def flex_attention_backward(kernel_options):  # named and holding the local as torch's lowering
        return configs()

    def other_caller(kernel_options):
        return configs()
    torch_own = flex_attention_backward({})
    assert torch_own and any(max(t[:4]) > 64 for t in torch_own)  # else this test proves nothing
    assert flex_attention_backward({"bwd_BLOCK_M1": 64}) == torch_own
    assert flex_attention_backward(dict(FWD_TILES_64)) == torch_own and other_caller(dict(BWD_TILES)) == torch_own
    assert flex_attention_backward(dict(BWD_TILES)) == [(64, 64, 64, 64, t[4]) for t in torch_own]
    assert flex_attention_backward(dict(BLOCK_M1=32, BLOCK_N1=64, BLOCK_M2=64, BLOCK_N2=32)) == \
        [(32, 64, 64, 32, t[4]) for t in torch_own]


def test_torchs_lowering_is_where_the_fix_looks():
    """The fix reads the ``kernel_options`` local of torch's flex backward lowering, which asks for the
    configs itself: a torch that renames either would silently lose it."""
    import inspect

    from torch._inductor.kernel.flex import flex_attention as lowerings
    fn = inspect.unwrap(getattr(lowerings, "flex_attention_backward"))
    assert fn.__code__.co_name == "flex_attention_backward"
    assert "kernel_options" in fn.__code__.co_varnames
    assert "get_flex_attention_bwd_configs" in fn.__code__.co_names


def test_a_64_token_blockmask_installs_the_fix(monkeypatch):
    """The fix goes in where a BlockMask on blocks smaller than torch's backward tiles is built, not at
    import (importing inductor there costs ~0.8 s per process)."""
    from torch._inductor.choices import InductorChoices
    _torchs_own_configs(monkeypatch, InductorChoices)
    flex._fused_structure.cache_clear()  # a cached BlockMask would skip the build
    p = build("sliding_window", causal=True, left=70)
    flex.fused_block_mask(p, 256, 2, torch.device("cpu"), 128)
    assert not getattr(InductorChoices.get_flex_attention_bwd_configs, "_zoo_pinned", False)
    flex.fused_block_mask(p, 256, 2, torch.device("cpu"), 64)
    assert getattr(InductorChoices.get_flex_attention_bwd_configs, "_zoo_pinned", False)
