"""Models vary a pattern's size by layer (growing windows): the fused FlexAttention path must reuse
one compiled kernel for all of them, or every layer pays a compile (minutes on the GPU)."""
import torch

from zoo.attention import build, sparse_attention


def _graphs():
    from torch._dynamo.utils import counters
    return counters["stats"]["unique_graphs"]


def test_window_sizes_share_one_compiled_kernel(monkeypatch):
    monkeypatch.delenv("ZOO_FLEX_EAGER", raising=False)
    q, k, v = (torch.randn(1, 2, 256, 16) for _ in range(3))
    with torch.no_grad():
        for name, kws in (("sliding_window", [dict(left=31, right=0), dict(left=47, right=0), dict(left=63, right=0)]),
                          ("longformer", [dict(window=32, global_tokens=2), dict(window=64, global_tokens=4)])):
            counts = []
            for kw in kws:
                p = build(name, causal=True, **kw)
                out = sparse_attention(q, k, v, p, backend="flex")
                ref = sparse_attention(q, k, v, p, backend="reference")
                assert (out - ref).abs().max() < 1e-4
                counts.append(_graphs())
            assert counts[-1] == counts[0], f"{name}: new sizes recompiled ({counts})"
