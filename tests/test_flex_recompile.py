"""Models vary a pattern's size by layer (growing windows). The kernel bakes window sizes in as
constants (11-22% faster on the H200 than reading them from a tensor), so each size compiles once;
equal patterns must reuse it, and the BlockMask build (the compiled tile reduction) must compile
once for all sizes, since it reads them from a tensor."""
import torch

from zoo.attention import build, sparse_attention
from zoo.attention.kernels import block_mask
from zoo.attention.kernels.flex import _fused_mask_mod


def _graphs():
    from torch._dynamo.utils import counters
    return counters["stats"]["unique_graphs"]


def test_equal_patterns_reuse_the_kernel_and_new_sizes_stay_exact(monkeypatch):
    monkeypatch.delenv("ZOO_FLEX_EAGER", raising=False)
    q, k, v = (torch.randn(1, 2, 256, 16) for _ in range(3))
    with torch.no_grad():
        for name, kws in (("sliding_window", [dict(left=31, right=0), dict(left=47, right=0)]),
                          ("longformer", [dict(window=32, global_tokens=2), dict(window=64, global_tokens=4)])):
            for kw in kws:
                p = build(name, causal=True, **kw)
                out = sparse_attention(q, k, v, p, backend="flex")
                ref = sparse_attention(q, k, v, p, backend="reference")
                assert (out - ref).abs().max() < 1e-4
                before = _graphs()
                again = sparse_attention(q, k, v, build(name, causal=True, **kw), backend="flex")  # a new, equal object
                assert _graphs() == before, f"{name} {kw}: an equal pattern recompiled"
                assert torch.equal(again, out)


def test_block_mask_build_compiles_once_for_all_window_sizes():
    n, block = 128, 32
    h = torch.zeros(1, 1, 1, dtype=torch.long)
    fn = block_mask._compiled_tiles()
    counts = []
    for left in (15, 40, 77):
        mm = _fused_mask_mod(build("sliding_window", left=left, right=0, causal=True), n, n, 1, 0, "cpu", None,
                             kernel=False)
        fn(mm, h, torch.tensor(0), n, n, n, n // block, block)
        counts.append(_graphs())
    assert counts[-1] == counts[0], f"new window sizes recompiled the BlockMask build ({counts})"
