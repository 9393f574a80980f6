"""Global tokens as copies inside the pattern's one BlockMask call (kernels/global_copies.py): the
copies' mask evaluated densely on (q', k') against the reference on the whole pattern (CPU, fp64,
forward, lse and gradients; bidirectional and causal, padded or not), the real BlockMask on
FlexAttention's unfused CPU kernels (forward), which path the dispatcher takes, and on the GPU
against the one BlockMask and the reference."""
import pytest
import torch

from zoo.attention import build, sparse_attention
from zoo.attention.kernels import flex
from zoo.attention.kernels import global_copies as gc
from zoo.attention.kernels import global_rows as gr

from attention_cases import DenseMask, assert_matches_reference, dense_flex, global_token_inputs

PATTERNS = {"longformer": build("longformer", window=16, global_tokens=5),
            "bigbird": build("bigbird", block=8, window_blocks=3, global_blocks=1, random_blocks=1),
            "longformer_causal": build("longformer", window=16, global_tokens=5, causal=True),
            "longformer_wide": build("longformer", window=16, global_tokens=12),  # a slot of two 8-token blocks
            "bigbird_two_global": build("bigbird", block=8, window_blocks=3, global_blocks=2, random_blocks=1),
            "bigbird_causal": build("bigbird", block=8, window_blocks=3, global_blocks=2, random_blocks=1,
                                    causal=True)}


def _record_plans(monkeypatch) -> list:
    """The plans the dispatcher gets that run the copies (not None)."""
    calls, real = [], gc.plan
    monkeypatch.setattr(gc, "plan", lambda *a, **kw: (lambda p: p and calls.append(p) or p)(real(*a, **kw)))
    return calls


@pytest.mark.parametrize("name", list(PATTERNS))
@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("pad_rows", ["1", "0"])
def test_copies_equal_the_pattern(monkeypatch, name, padded, pad_rows):
    monkeypatch.setattr(gc, "SPLIT", 64)  # several copies at a CPU-sized length (the last one partial)
    monkeypatch.setattr(gc, "MIN_TOKENS", 0)
    monkeypatch.setenv("ZOO_COPIES_PAD_ROWS", pad_rows)
    p, n, block = PATTERNS[name], 208, 8
    plan = gc.plan(p, n, n, 0, block, grad=True)
    assert plan.rows == p.global_rows() and plan.cols == p.global_cols()
    assert plan.row_copies == (4 if p.global_rows() else 0) and plan.col_copies == 4
    q, k, v, kpm = global_token_inputs(n, padded)
    fn, bufs = p.mask_parts(n)
    bm = DenseMask(gc.mask_mod(fn, bufs, plan, p.head_groups(), 2, kpm), plan.n_q, plan.n_k, 2)
    out, lse = gc.attention(q, k, v, plan, bm, 0.3, None, flex=dense_flex)
    assert_matches_reference(out, lse, q, k, v, p, kpm, 0.3)

def test_copies_only_where_they_apply(monkeypatch):
    lf = PATTERNS["longformer"]
    n, block = gc.MIN_TOKENS, 64
    assert gc.plan(lf, n, n, 0, block, grad=True) == gc.Plan(n, 5, 5, block, gc.SPLIT)
    assert gc.plan(lf, n, n, 0, block, grad=False) is None  # without gradients: the split-KV rows
    assert gc.plan(PATTERNS["longformer_causal"], n, n, 0, block, grad=True) == gc.Plan(n, 0, 5, block, gc.SPLIT)
    assert gc.plan(lf, n - block, n - block, 0, block, grad=True) is None  # below MIN_TOKENS
    assert gc.plan(lf, n + 1, n + 1, 0, block, grad=True) is None  # the block does not divide the length
    assert gc.plan(lf, n - block, n, 0, block, grad=True) is None and gc.plan(lf, n, n, block, block, True) is None
    assert gc.plan(build("sliding_window"), n, n, 0, block, grad=True) is None
    assert gc.plan(build("longformer", global_tokens=gc.SPLIT), n, n, 0, block, grad=True) is None  # many globals
    monkeypatch.setenv("ZOO_GLOBAL_COPIES", "0")
    assert gc.plan(lf, n, n, 0, block, grad=True) is None
    p = gc.Plan(3 * gc.SPLIT, 5, 130, 64, gc.SPLIT)
    assert (p.row_slot, p.col_slot, p.row_copies, p.col_copies) == (64, 256, 3, 3)  # powers of two, >= a block
    assert (p.n_q, p.n_k) == (3 * gc.SPLIT + 3 * 64, 3 * gc.SPLIT + 3 * 256)
    assert gc.plan(lf, n, n, 0, 96, grad=True) is None  # a block that is not a power of two


@pytest.mark.parametrize("name", ["longformer", "bigbird_two_global", "longformer_causal"])
def test_real_blockmask_on_flex_unfused_path(eager_flex, monkeypatch, name):
    """The copies' real BlockMask (built from the mask_mod the kernel runs) and mask_mod on
    FlexAttention's unfused CPU kernels, forward only (no CPU backward): equal to the reference,
    padded or not, on the CPU's 128-token blocks with a production-like SPLIT >= block."""
    monkeypatch.setattr(gc, "SPLIT", 128)
    monkeypatch.setattr(gc, "MIN_TOKENS", 0)
    p, n = PATTERNS[name], 640
    plan = gc.plan(p, n, n, 0, 128, grad=True)
    assert plan.col_copies == 5
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(2, 2, n, 8, generator=g) for _ in range(3))
    kpm = torch.ones(2, n, dtype=torch.bool)
    kpm[0, 500:] = False
    kpm[1, :2] = False  # global keys
    with torch.no_grad():
        for mask in (None, kpm):
            out, lse = flex._copies_attention(q, k, v, p, plan, mask, 0.3, None)
            want, want_lse = sparse_attention(q, k, v, p, backend="reference", key_padding_mask=mask, scale=0.3,
                                              return_lse=True)
            torch.testing.assert_close(out, want, atol=2e-5, rtol=2e-5)
            torch.testing.assert_close(lse, want_lse, atol=2e-5, rtol=2e-5)


@pytest.mark.parametrize("pad_rows", [True, False])
def test_pad_rows_make_the_row_copies_tiles_full(monkeypatch, pad_rows):
    """Longformer's global rows see every key of their split, so with their slot's pad rows on the
    last global row's mask (Plan.pad_rows) every row-copy tile is full (the kernel skips its mask);
    without, each is partial. The copies' results are exact either way (the test above)."""
    monkeypatch.setattr(gc, "SPLIT", 128)
    monkeypatch.setattr(gc, "MIN_TOKENS", 0)
    monkeypatch.setenv("ZOO_COPIES_PAD_ROWS", "1" if pad_rows else "0")
    p, n = PATTERNS["longformer"], 640
    plan = gc.plan(p, n, n, 0, 128, grad=True)
    assert plan.pad_rows == pad_rows
    bm = flex._copies_structure(p, plan, 2, "cpu", False)
    partial, full = bm.kv_num_blocks[0, 0, n // 128:], bm.full_kv_num_blocks[0, 0, n // 128:]  # (row copies,)
    assert partial.tolist() == [0 if pad_rows else 1] * plan.row_copies
    assert full.tolist() == [1 if pad_rows else 0] * plan.row_copies


def test_pad_rows_leave_blocks_of_pad_rows_empty(monkeypatch):
    """130 global rows in a 256-row slot of 64-row blocks: the pad rows of the third block take the last
    global row's mask (its tiles full), the fourth block, pad rows only, stays empty."""
    monkeypatch.setattr(gc, "MIN_TOKENS", 0)
    p, n = build("longformer", window=16, global_tokens=130), 2 * gc.SPLIT
    plan = gc.plan(p, n, n, 0, 64, grad=True)
    assert (plan.row_slot, plan.row_copies) == (256, 2)
    bm = flex._copies_structure(p, plan, 2, "cpu", False)
    partial, full = bm.kv_num_blocks[0, 0, n // 64:], bm.full_kv_num_blocks[0, 0, n // 64:]  # (copies * 4,)
    assert partial.tolist() == [0] * 8
    assert full.tolist() == [gc.SPLIT // 64] * 3 + [0] + [gc.SPLIT // 64] * 3 + [0]


def test_dispatch_order(eager_flex, monkeypatch):
    """fused_flex_attention: with gradients the copies, without the split-KV rows, and with
    ZOO_GLOBAL_COPIES=0 the one BlockMask (the kernels themselves stubbed: FlexAttention has no CPU
    backward)."""
    for mod in (gc, gr):
        monkeypatch.setattr(mod, "MIN_TOKENS", 0)
        monkeypatch.setattr(mod, "SPLIT", 128)
    took = []
    stub = lambda what: lambda q, *a, **kw: took.append(what) or (q * 0, q[..., 0] * 0)  # noqa: E731
    monkeypatch.setattr(flex, "_copies_attention", stub("copies"))
    monkeypatch.setattr(gr, "attention", stub("split rows"))
    monkeypatch.setattr(flex, "_run", stub("one"))
    p = PATTERNS["longformer"]
    q, k, v = (torch.randn(1, 2, 512, 8, requires_grad=True) for _ in range(3))
    flex.fused_flex_attention(q, k, v, p, scale=0.3)
    with torch.no_grad():
        flex.fused_flex_attention(q, k, v, p, scale=0.3)
    monkeypatch.setenv("ZOO_GLOBAL_COPIES", "0")
    flex.fused_flex_attention(q, k, v, p, scale=0.3)
    assert took == ["copies", "split rows", "one"]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", ["longformer", "bigbird", "bigbird128", "longformer_causal"])
@pytest.mark.parametrize("padded", [False, True])
def test_cuda_copies_match_the_one_blockmask(monkeypatch, name, padded):
    """On FlexAttention's fused kernels (16k tokens, bf16; the peers' pattern parameters, and BigBird
    with the attention benchmark's 128-token blocks, whose global rows fill a two-block slot): the
    copies (forced below their MIN_TOKENS) and the one BlockMask (ZOO_GLOBAL_COPIES=0) agree, forward
    and gradients; and at 4,096 tokens in fp32 the copies equal the fp64 reference."""
    monkeypatch.delenv("ZOO_FLEX_EAGER", raising=False)
    monkeypatch.setattr(gc, "MIN_TOKENS", 0)  # correctness at lengths below where the copies pay
    causal = name.endswith("_causal")
    p = {"longformer": build("longformer", window=512, global_tokens=32, causal=causal),
         "bigbird": build("bigbird", block=64, window_blocks=3, global_blocks=1, random_blocks=3),
         "bigbird128": build("bigbird", block=128, window_blocks=3, global_blocks=1, random_blocks=3),
         }[name.split("_")[0]]
    calls = _record_plans(monkeypatch)
    for n, dtype, tol in ((16384, torch.bfloat16, 2e-2), (4096, torch.float32, 1e-4)):
        g = torch.Generator(device="cuda").manual_seed(0)
        q, k, v = (torch.randn(2, 4, n, 64, device="cuda", dtype=dtype, generator=g) for _ in range(3))
        kpm = None
        if padded:
            kpm = torch.ones(2, n, dtype=torch.bool, device="cuda")
            kpm[0, n * 5 // 8:] = False
            kpm[1, :3] = False
        do = torch.randn_like(q)
        got = []
        for env in ("1", "0", "ref"):
            monkeypatch.setenv("ZOO_GLOBAL_COPIES", env)
            xs = [t.clone().requires_grad_() for t in (q, k, v)]
            if env == "ref":
                if n > 4096:
                    break
                xs64 = [t.double().detach().requires_grad_() for t in xs]
                out = sparse_attention(*xs64, p, backend="reference", key_padding_mask=kpm)
                got.append((out, *torch.autograd.grad(out, xs64, do.double())))
                continue
            out = sparse_attention(*xs, p, backend="flex", key_padding_mask=kpm)
            got.append((out, *torch.autograd.grad(out, xs, do)))
        for other in got[1:]:
            for a, b in zip(got[0], other):
                err = ((a.double() - b.double()).abs().max() / b.double().abs().max().clamp(min=1)).item()
                assert err < tol, (n, dtype, err)
    assert [(c.n, c.col_copies) for c in calls] == [(16384, 16), (4096, 4)]
