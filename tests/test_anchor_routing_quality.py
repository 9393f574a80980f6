"""tools/anchor_vs_lsh.py's measurements: the allowed-key masks it derives from a routing are
exactly the kernel's support, the scores are right on known cases, and EMA-fitted anchors find
the clusters of structured keys (the EMA update rule itself is tested in test_routing.py)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from zoo.attention import build, sparse_attention

_spec = importlib.util.spec_from_file_location(
    "anchor_vs_lsh", Path(__file__).resolve().parents[1] / "tools" / "anchor_vs_lsh.py")
avl = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(avl)


def _support(pattern, k, **state):
    """Keys with nonzero weight when every allowed score is equal (q = 0, v = identity)."""
    B, H, N, D = k.shape
    q = torch.zeros_like(k)
    v = torch.eye(N, dtype=k.dtype).expand(B, H, N, N).contiguous()
    out = sparse_attention(q, k, v, pattern, backend="reference", **state)
    return out > 0


@pytest.mark.parametrize("pattern", [
    build("lsh", bucket_size=8, n_hashes=2, chunk=8, causal=True),
    build("lsh", bucket_size=8, n_hashes=1, chunk=4, causal=False),
    build("anchor", n_anchors=4, chunk=8, window=4, causal=True),
    build("anchor", n_anchors=4, chunk=8, window=0, causal=False),
], ids=["lsh2-causal", "lsh1", "anchor-window-causal", "anchor-nowindow"])
def test_routed_mask_is_the_kernel_support(pattern):
    k = torch.randn(2, 2, 32, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    mask, slots = avl.routed_mask(pattern, torch.zeros_like(k), k)
    assert torch.equal(mask, _support(pattern, k))
    assert slots >= mask.sum(-1).float().mean()  # LSH rounds may repeat a key; never fewer


def test_scores_on_known_cases():
    P = torch.softmax(torch.randn(1, 2, 16, 16).masked_fill(~torch.ones(16, 16).tril().bool(), float("-inf")), -1)
    dense = build("dense", causal=True)
    mask, slots = avl.static_mask(dense, 1, 2, 16)
    s = avl.scores(P, mask, topk=4)
    assert abs(s["mass"] - 1) < 1e-6 and s["recall"] == 1.0 and slots == 16 * 17 / 2 / 16
    o = avl.scores(P, avl.oracle_mask(P, 4), topk=4)
    assert o["recall"] == 1.0 and o["keys"] <= 4
    w, _ = avl.static_mask(build("sliding_window", left=3, right=0, causal=True), 1, 2, 16)
    assert avl.scores(P, w, topk=4)["mass"] <= o["mass"] + 1e-6  # the oracle is an upper bound


def test_ema_anchors_find_clusters_and_recover_the_mass():
    """Keys drawn around 4 directions: anchors fitted by EMA k-means over several batches (twice
    as many anchors as clusters: k-means from a random start can merge two clusters) point at
    every centre, and anchor routing then sees most of a teacher's within-cluster attention,
    more than a sliding window of the same size."""
    g = torch.Generator().manual_seed(0)
    H, N, D, C = 2, 128, 16, 4
    centres = F.normalize(torch.randn(H, C, D, generator=g), dim=-1)

    def batch(seed):
        gg = torch.Generator().manual_seed(seed)
        ids = torch.randint(C, (2, H, N), generator=gg)
        k = centres[torch.arange(H)[None, :, None], ids] + 0.05 * torch.randn(2, H, N, D, generator=gg)
        causal = torch.ones(N, N).tril().bool()
        P = torch.softmax((8 * k @ k.transpose(-1, -2)).masked_fill(~causal, float("-inf")), -1)
        return [{"q": k, "k": k, "P": P}]

    train = [batch(s) for s in range(1, 5)]
    (router,) = avl.fit_anchors(train, 2 * C, seed=0, decay=0.5)
    cos = torch.einsum("hcd,had->hca", centres, F.normalize(router.anchors, dim=-1)).amax(-1)
    assert (cos > 0.95).all()
    held = [batch(99)]
    anchor = build("anchor", n_anchors=2 * C, chunk=16, window=4, causal=True)
    a = avl.summarize(held, avl.evaluate_method("anchor_ema", anchor, held, [router]), topk=4)
    budget = round(a["keys"])
    win = build("sliding_window", left=budget - 1, right=0, causal=True)
    w = avl.summarize(held, avl.evaluate_method("sliding_window", win, held), topk=4)
    assert a["mass"] > 0.6 and a["mass"] > w["mass"] + 0.15
