"""SparseSelfAttention, its KV cache, the flex backend on CPU, memory and bad parameters."""
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from zoo.attention import SparseSelfAttention, available, build, patterns, sparse_attention

from attention_cases import static_patterns, with_causal

CAUSAL = {k: with_causal(p, True) for k, p in static_patterns().items()}


@pytest.mark.parametrize("name", list(CAUSAL))
def test_kv_cache_decoding_equals_full_recompute(name):
    torch.manual_seed(0)
    attn = SparseSelfAttention(16, 2, CAUSAL[name]).double().eval()
    x = torch.randn(2, 45, 16, dtype=torch.float64)
    full = attn(x)
    cache = attn.new_cache()
    prompt = 12 if name == "prefix_lm" else 5  # a bidirectional prefix must arrive whole
    steps = [attn(x[:, :prompt], cache=cache)]  # a prompt, then one token at a time
    steps += [attn(x[:, t:t + 1], cache=cache) for t in range(prompt, 45)]
    assert torch.allclose(torch.cat(steps, 1), full, atol=1e-12, rtol=0)
    look = CAUSAL[name].lookback()
    if look is not None:  # a window keeps only its look-back
        assert cache.k.shape[2] <= look + 1  # the look-back plus the newest token


def test_cache_needs_causal_pattern():
    with pytest.raises(ValueError, match="causal"):
        SparseSelfAttention(16, 2, build("sliding_window", left=2, right=2)).new_cache()


@pytest.mark.parametrize("pattern", [build("sliding_window", left=20, right=20), build("dense", causal=True)])
def test_flex_cpu_inference_matches_reference(pattern):
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 2, 200, 16) for _ in range(3))
    with torch.no_grad():
        flex = sparse_attention(q, k, v, pattern, backend="flex")
        ref = sparse_attention(q, k, v, pattern, backend="reference")
    assert (flex - ref).abs().max() < 1e-5


def test_flex_on_cpu_with_grad_raises():
    q = torch.randn(1, 1, 8, 16, requires_grad=True)
    with pytest.raises(ValueError, match="flex"):
        sparse_attention(q, q, q, build("dense"), backend="flex")


def test_reference_memory_is_linear_in_length():
    """Sliding window at N = 32,768 forward+backward: an N x N fp32 mask alone would be 4 GiB."""
    code = textwrap.dedent("""
        import resource, torch
        from zoo.attention import build, sparse_attention
        torch.set_num_threads(2)
        q, k, v = (torch.randn(1, 4, 32768, 64, requires_grad=True) for _ in range(3))
        out = sparse_attention(q, k, v, build("sliding_window", left=128, right=128), backend="reference")
        out.sum().backward()
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    """)
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    peak_gib = int(res.stdout.split()[-1]) / 2**20
    assert peak_gib < 2.0, f"peak RSS {peak_gib:.2f} GiB"


@pytest.mark.parametrize("name, params, word", [
    ("sliding_window", {"left": -1}, "left"),
    ("dilated_window", {"dilation": 0}, "dilation"),
    ("dilated_window", {"dilation": [1, 0]}, "dilation"),
    ("longformer", {"window": 0}, "window"),
    ("bigbird", {"block": 0}, "block"),
    ("bigbird", {"random_blocks": -2}, "random_blocks"),
    ("strided", {"stride": 0}, "stride"),
    ("strided", {"heads": "half"}, "heads"),
    ("fixed", {"summary": 9, "stride": 8}, "summary"),
    ("sliding_window", {"widow": 3}, "widow"),
    ("prefix_lm", {"prefix_len": -1}, "prefix_len"),
    ("union", {"patterns": [build("dense")]}, "patterns"),
    ("lsh", {"bucket_size": 0}, "bucket_size"),
    ("anchor", {"n_anchors": 0}, "n_anchors"),
])
def test_bad_parameters_name_the_parameter(name, params, word):
    with pytest.raises(ValueError, match=word):
        build(name, **params)


def test_unknown_pattern_lists_known_names():
    with pytest.raises(ValueError, match="sliding_window"):
        build("slidingwindow")


def test_stride_longer_than_sequence_raises():
    with pytest.raises(ValueError, match="stride"):
        build("strided", stride=300).validate_length(256)
    with pytest.raises(ValueError, match="stride"):
        SparseSelfAttention(16, 2, build("fixed", stride=64, summary=4), max_len=32)


def test_split_heads_need_even_head_count():
    with pytest.raises(ValueError, match="n_heads"):
        SparseSelfAttention(12, 3, build("strided", stride=4, heads="split"))


def test_bad_shapes_and_masks_raise():
    q = torch.randn(2, 2, 8, 4)
    with pytest.raises(ValueError, match="key_padding_mask"):
        sparse_attention(q, q, q, build("dense"), key_padding_mask=torch.ones(2, 7, dtype=torch.bool))
    with pytest.raises(ValueError, match="global_mask"):
        sparse_attention(q, q, q, build("dense"), global_mask=torch.ones(2, 8, dtype=torch.bool))
    with pytest.raises(ValueError, match="backend"):
        sparse_attention(q, q, q, build("dense"), backend="triton")
    with pytest.raises(ValueError, match="shape"):
        sparse_attention(q[0], q[0], q[0], build("dense"))


def test_available_lists_every_family_with_defaults():
    av = available()
    for name in ("dense", "sliding_window", "dilated_window", "longformer", "bigbird", "strided", "fixed",
                 "lsh", "anchor", "learned", "union", "intersection", "prefix_lm"):
        assert name in av
    assert av["bigbird"]["block"] == 64 and av["bigbird"]["random_blocks"] == 3
    for cls in patterns._REGISTRY.values():
        assert cls.kind in ("local", "global", "hybrid")


@pytest.mark.parametrize("backend", ["reference", "auto"])
def test_half_precision_keeps_its_dtype(backend):
    """bf16 in, bf16 out, for a multi-piece pattern (DeepSpeed bf16 training on CPU needs this)."""
    q, k, v = (torch.randn(1, 2, 300, 16, dtype=torch.bfloat16, requires_grad=True) for _ in range(3))
    out = sparse_attention(q, k, v, build("strided", stride=16, causal=True), backend=backend)
    assert out.dtype == torch.bfloat16
    out.float().sum().backward()
    assert q.grad.dtype == torch.bfloat16


@pytest.mark.parametrize("name", ["vqa_tiny_bigbird", "pixel_tiny_strided"])
def test_models_train_in_bf16(name):
    import zoo
    model = zoo.create_model(name).to(torch.bfloat16)
    batch = {k: (t.to(torch.bfloat16) if torch.is_tensor(t) and t.is_floating_point() else t)
             for k, t in model.dummy_inputs(2).items()}
    loss = model(**batch)["loss"]
    loss.backward()
    assert torch.isfinite(loss)


def test_auto_backend_short_static_attention_takes_the_dense_path_on_every_device():
    from zoo.attention.attention import SMALL_DENSE, auto_backend

    bigbird, lsh = build("bigbird", block=16), build("lsh", bucket_size=16)
    for cuda in (False, True):  # easy-VQA's 77 tokens: masked SDPA, also on a GPU
        assert auto_backend(bigbird, 77, 77, cuda) == "dense"
    assert auto_backend(bigbird, 77, 77, True, return_lse=True) == "flex"  # SDPA gives no lse
    assert auto_backend(lsh, 77, 77, True) == "flex"  # routed per input: no static mask to build
    n = int(SMALL_DENSE ** 0.5) + 1
    assert auto_backend(bigbird, n, n, True) == "flex" and auto_backend(bigbird, n, n, False) == "reference"
    assert auto_backend(lsh, 1, 4096, True) == "reference"  # a decode step skips flex's compile


def test_projection_parts_are_dense_and_match_the_fused_matmul(monkeypatch):
    """q, k, v come from one matmul each (dense (B, N, H, D) parts, so class heads and the kernel's
    gradients need no copies); the same numbers as the fused (B, N, 3C) output, same checkpoint."""
    from zoo.attention.projection import QKVProjection
    torch.manual_seed(0)
    x = torch.randn(2, 10, 16, requires_grad=True)
    split = QKVProjection(16, 48)
    monkeypatch.setenv("ZOO_FUSED_QKV", "1")
    fused = QKVProjection(16, 48)
    fused.load_state_dict(split.state_dict())
    assert fused.fused and not split.fused
    parts, ref = split.split_heads(x, 4), fused.split_heads(x, 4)
    want = (x @ split.weight.T + split.bias).view(2, 10, 3, 4, 4).unbind(2)
    for a, b, w in zip(parts, ref, want):
        assert a.shape == (2, 10, 4, 4) and a.is_contiguous() and not b.is_contiguous()
        torch.testing.assert_close(a, w)
        torch.testing.assert_close(b, w)
    g = [torch.autograd.grad(sum((t * t).sum() for t in ps), (x, m.weight, m.bias))
         for ps, m in ((parts, split), (ref, fused))]
    for a, b in zip(*g):
        torch.testing.assert_close(a, b)


@pytest.fixture
def gpu_decisions(monkeypatch):
    """graph_mask and the dispatcher decide as on a GPU (FlexAttention complete); CPU tests then
    run forwards only, as FlexAttention has no backward here, and on contiguous q, k, v (the GPU
    default, the projection's views, fails in CPU inductor's FlexAttention template)."""
    import zoo.attention.attention as A
    monkeypatch.setattr(A, "flex_complete", lambda t: True)
    monkeypatch.setenv("ZOO_GRAPH_VIEWS", "0")


@pytest.mark.parametrize("rotary", [False, True])
def test_compiled_block_hands_dense_tensors_to_the_core(monkeypatch, rotary):
    """Under torch.compile q, k, v reach the core dense and its output's gradient leaves dense
    (``_DenseGrad``, ZOO_DENSE_BOUNDARY=1); the math is that of the head-transposed views (default)."""
    from zoo.layers.block import Block
    from zoo.layers.rotary import RotaryEmbedding

    seen, grads = [], []
    core = SparseSelfAttention._core.__wrapped__  # the undecorated core (compiler.disable)

    def spy(self, q, k, v, *rest):
        seen.append((q.is_contiguous(), k.is_contiguous(), v.is_contiguous()))
        out = core(self, q, k, v, *rest)
        out.register_hook(lambda g: grads.append(g.is_contiguous()))  # the gradient coming back
        return out

    monkeypatch.setattr(SparseSelfAttention, "_core", torch.compiler.disable(spy))
    results = []
    for dense in ("0", "1"):
        monkeypatch.setenv("ZOO_DENSE_BOUNDARY", dense)
        torch.manual_seed(0)
        blk = Block(32, 4, build("sliding_window", causal=True, left=5), backend="reference", max_len=40,
                    rotary=RotaryEmbedding(8, max_len=40) if rotary else None)
        blk.compile(dynamic=False)
        x = torch.randn(2, 40, 32, requires_grad=True)
        y = blk(x)
        y.square().sum().backward()
        results.append([y, x.grad] + [p.grad for p in blk.parameters()])
    assert seen == [(False,) * 3, (True,) * 3] and grads == [False, True]
    for a, b in zip(*results):
        torch.testing.assert_close(a, b)


def test_graph_mask_says_which_layers_run_inside_a_compiled_graph(monkeypatch):
    """Dense attention (SDPA), fused static patterns and one residue-class piece can run in a compiled
    block's graph; routed and several-piece patterns, the short masked-dense path and CPU tensors cannot."""
    import zoo.attention.attention as A
    from torch.nn.attention.flex_attention import BlockMask

    for var in ("ZOO_GRAPH_VIEWS", "ZOO_FLEX_BLOCK", "ZOO_FUSED_QKV"):
        monkeypatch.delenv(var, raising=False)  # the defaults
    x = torch.randn(1, 512, 32)
    win = SparseSelfAttention(32, 2, build("sliding_window", causal=True, left=64))
    assert win.graph_mask(x) is None  # CPU: FlexAttention has no backward here
    monkeypatch.setattr(A, "flex_complete", lambda t: True)  # as on a GPU
    monkeypatch.setenv("ZOO_FLEX_EAGER", "1")
    assert win.graph_mask(x) is None  # the unfused debugging path stays in the dispatcher
    monkeypatch.delenv("ZOO_FLEX_EAGER")
    bm = win.graph_mask(x)
    assert isinstance(bm, BlockMask) and bm is win.graph_mask(x)  # built once, cached
    assert SparseSelfAttention(32, 2, build("dense", causal=True)).graph_mask(x) is True
    assert win.graph_mask(x[:, :64]) is None  # 64 x 64 pairs: the masked dense path
    for name, kw in (("lsh", {}), ("strided", dict(stride=64))):  # routed; two pieces
        assert SparseSelfAttention(32, 2, build(name, causal=True, **kw)).graph_mask(x) is None, name
    r, bm, layout = SparseSelfAttention(32, 2, build("dilated_window", causal=True, left=64, dilation=2)).graph_mask(x)
    assert (r, layout) == (2, "heads") and isinstance(bm, BlockMask)  # one residue-class piece: 2 class heads of 256 tokens
    monkeypatch.setenv("ZOO_GRAPH_VIEWS", "0")  # read at construction: contiguous copies, the "batch" view is free
    assert SparseSelfAttention(32, 2, build("dilated_window", causal=True, left=64, dilation=2)).graph_mask(x)[2] == "batch"
    monkeypatch.delenv("ZOO_GRAPH_VIEWS")
    monkeypatch.setenv("ZOO_FUSED_QKV", "1")  # views of one matmul: neither class view is free, "batch" copies once
    assert SparseSelfAttention(32, 2, build("dilated_window", causal=True, left=64, dilation=2)).graph_mask(x)[2] == "batch"
    assert SparseSelfAttention(32, 2, build("sliding_window", left=64), backend="reference").graph_mask(x) is None
    with pytest.raises(ValueError, match="graph_mask"):
        win(x, key_padding_mask=torch.ones(1, 512, dtype=torch.bool), graph_mask=bm)


def test_graph_attention_equals_the_dispatcher(monkeypatch, gpu_decisions):
    """Graph attention (the default; ZOO_GRAPH_ATTENTION=0 is off): compiled blocks run FlexAttention with the cached BlockMask in their own
    graph; forward equals the dispatcher's fused call (CPU, no_grad: its FlexAttention has no backward)."""
    from torch._dynamo.utils import counters

    from zoo.registry import create_model

    outs, breaks = [], []
    for on in ("0", "1"):
        monkeypatch.setenv("ZOO_GRAPH_ATTENTION", on)
        torch.manual_seed(0)
        counters.clear()
        m = create_model("lm_tiny_longformer", compile=True, attn_backend="flex").train()
        assert m.backbone.graph_attention == (on == "1")
        ids = torch.randint(0, 256, (2, 128), generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            outs.append(m(input_ids=ids)["logits"])
        breaks.append(sum(counters["graph_break"].values()))
    torch.testing.assert_close(outs[0], outs[1], atol=2e-5, rtol=1e-4)
    assert breaks[0] > 0 and breaks[1] == 0  # the dispatcher breaks each block's graph; in-graph, none


@pytest.mark.parametrize("name,kw", [("dilated_window", dict(left=24, dilation=4)), ("sliding_window", dict(left=40)),
                                     ("dilated_window", dict(left=24, dilation=16))])  # 16 classes of 32 tokens
def test_compiled_block_with_graph_mask_equals_the_dispatcher(gpu_decisions, name, kw):
    """A compiled block given ``graph_mask`` (class heads on the "batch" view, or the fused BlockMask)
    computes what the dispatcher does (CPU forward: FlexAttention has no backward here)."""
    from zoo.layers.block import Block

    torch.manual_seed(0)
    blk = Block(32, 2, build(name, causal=True, **kw), backend="flex", max_len=512).train()
    blk.compile(dynamic=False)
    x = torch.randn(2, 512, 32)
    gm = blk.attn.graph_mask(x)
    assert gm is not None and (isinstance(gm, tuple) == (name == "dilated_window"))
    with torch.no_grad():
        torch.testing.assert_close(blk(x, graph_mask=gm), blk(x), atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("name,kw", [("dilated_window", dict(left=24, dilation=4)), ("sliding_window", dict(left=40))])
def test_graph_views_hand_flex_the_projection_uncopied(monkeypatch, gpu_decisions, name, kw):
    """By default in-graph FlexAttention gets the projection's (B, N, H, D) tensors as views (not the
    copies of ZOO_GRAPH_VIEWS=0), class pieces on the "heads" view that is free for them, and computes
    what the dispatcher does (eager: CPU inductor's FlexAttention template needs 4-D buffers; the GPU
    test compiles it)."""
    import zoo.attention.attention as A

    contiguous, real = [], A.graph_attention
    monkeypatch.setattr(A, "graph_attention", lambda q, *a, **k: contiguous.append(q.is_contiguous()) or real(q, *a, **k))
    outs = []
    for views in ("0", None):  # copies, then the default
        monkeypatch.setenv("ZOO_GRAPH_VIEWS", views) if views else monkeypatch.delenv("ZOO_GRAPH_VIEWS")
        torch.manual_seed(0)
        attn = SparseSelfAttention(32, 2, build(name, causal=True, **kw), backend="flex")
        x = torch.randn(2, 512, 32, generator=torch.Generator().manual_seed(1))
        gm = attn.graph_mask(x)
        if name == "dilated_window":
            assert gm[2] == ("batch" if views else "heads")
        with torch.no_grad():
            outs.append(attn(x, graph_mask=gm))
            torch.testing.assert_close(outs[-1], attn(x), atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(outs[0], outs[1], atol=2e-5, rtol=1e-4)
    assert contiguous == [True, False]  # with views: the projection's tensors, uncopied


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name,kw,env,block", [
    ("dilated_window", dict(left=64, dilation=8), {}, None), ("sliding_window", dict(left=100), {}, 64),
    ("dense", {}, {}, None), ("dilated_window", dict(left=64, dilation=32), {}, None),
    ("dilated_window", dict(left=64, dilation=32), {"ZOO_FLEX_TILES": "0"}, None),
    ("dilated_window", dict(left=64, dilation=32), {"ZOO_GRAPH_VIEWS": "0"}, None),
    ("sliding_window", dict(left=100), {"ZOO_GRAPH_VIEWS": "0"}, 64),
    ("sliding_window", dict(left=100), {"ZOO_FLEX_BLOCK": "128"}, 128),
    ("dilated_window", dict(left=64, dilation=(1, 2)), {}, 64)])
def test_graph_attention_forward_and_gradients_on_cuda(monkeypatch, name, kw, env, block):
    """On the GPU the in-graph path trains: a compiled block given ``graph_mask`` matches the
    dispatcher's and the reference backend's output and gradients (bf16 tolerance), with no graph
    break; dilation 32 gives the pixel model's short class pieces (64 tokens each), also on torch's
    own kernel tiles (ZOO_FLEX_TILES=0) rather than kernels/tiles.py's, and with contiguous copies of
    q, k, v (ZOO_GRAPH_VIEWS=0) rather than the projection's views; a fused BlockMask on 64-token
    blocks by default (a per-head dilation too), on 128 with ZOO_FLEX_BLOCK=128."""
    from torch._dynamo.utils import counters

    for key in ("ZOO_FLEX_TILES", "ZOO_FLEX_BLOCK", "ZOO_GRAPH_VIEWS"):
        monkeypatch.delenv(key, raising=False)  # the defaults, but for this case's switch
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    from zoo.layers.block import Block

    def block_of(backend):
        torch.manual_seed(0)
        return Block(128, 2, build(name, causal=True, **kw), backend=backend, max_len=2048).cuda().to(torch.bfloat16)
    blk, ref = block_of("auto").train(), block_of("reference").train()
    blk.compile(dynamic=False)
    x = torch.randn(2, 2048, 128, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    gm = blk.attn.graph_mask(x)
    assert gm is not None
    if block is not None:  # a fused BlockMask; 64 only on kernels/tiles.py's measured GPU (sm90)
        block = 128 if torch.cuda.get_device_capability() != (9, 0) else block
        assert gm.BLOCK_SIZE == (block, block)
    results = []
    for module, mask in ((blk, gm), (blk, None), (ref, None)):
        counters.clear()
        y = module(x, graph_mask=mask)
        y.float().square().mean().backward()
        results.append([y.float()] + [t.grad.float().clone() for t in [x, *module.parameters()]])
        if mask is not None:
            assert sum(counters["graph_break"].values()) == 0
        x.grad = None
        module.zero_grad()
    for other in results[1:]:
        for a, b in zip(results[0], other):
            torch.testing.assert_close(a, b, atol=3e-2, rtol=3e-2)


def test_graph_attention_with_checkpointing_trains_like_the_dispatcher(monkeypatch, gpu_decisions):
    """Activation checkpointing passes ``graph_mask`` on to the block: dense attention as SDPA in the
    block (FlexAttention has no backward on CPU) trains like the reference backend."""
    import zoo.attention.attention as A
    from zoo.registry import create_model

    received = []  # the graph_mask each attention layer's forward got
    real = A.SparseSelfAttention.forward
    monkeypatch.setattr(A.SparseSelfAttention, "forward",
                        lambda self, x, **kw: received.append(kw.get("graph_mask")) or real(self, x, **kw))
    ids = torch.randint(0, 256, (2, 128), generator=torch.Generator().manual_seed(1))
    grads = []
    for backend, graph in (("flex", True), ("reference", False)):
        torch.manual_seed(0)
        m = create_model("lm_tiny_dense", attn_backend=backend, grad_checkpointing=True).train()
        m.backbone.graph_attention = graph  # as compiled blocks set it by default
        m(input_ids=ids, labels=ids)["loss"].backward()
        grads.append([p.grad for p in m.parameters()])
    depth = len(m.backbone.blocks)  # the flex run's blocks got SDPA's True (forward, then the recompute)
    assert received == [True] * 2 * depth + [None] * 2 * depth
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
