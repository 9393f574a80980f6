"""Model FLOPs per token, the work a model actually needs (MFU's numerator).

6 x matmul weights (forward + backward) + per layer 12 x D_head x pairs / N, where pairs are the
(query, key) pairs the layer's pattern allows over one sequence, summed over heads
(``zoo.attention.flops.count_pairs``; for the routed lsh / anchor patterns an estimate from their
chunk band, said in ``attn_pairs_note``). Recompute from activation checkpointing is not counted.
``dense_equiv_*`` counts every pair (causal: N(N+1)/2 per head).
"""
from __future__ import annotations

from typing import Any

from torch import nn

from ..attention.flops import count_pairs
from ..attention.patterns import SlidingWindow
from ..attention.routing import _chunk_band


def param_counts(model: nn.Module) -> dict[str, int]:
    """total; non-embedding (token tables and position tables left out); matmul (every Linear /
    conv weight, a tied output head counted as the matmul it is)."""
    total = sum(p.numel() for p in model.parameters())
    emb = {id(p) for n, m in model.named_modules() for p in m.parameters(recurse=False)
           if isinstance(m, nn.Embedding) or "pos_embed" in n}
    emb |= {id(p) for n, p in model.named_parameters() if "pos_embed" in n}
    non_emb = sum(p.numel() for p in model.parameters() if id(p) not in emb)
    matmul = sum(m.weight.numel() for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)))
    return {"params": total, "params_nonembedding": non_emb, "matmul_params": matmul}


def _band_pairs(n: int, chunk: int) -> int:
    """Pairs of routing's 'own + previous chunk' band in sorted order, per head."""
    lo, hi, _ = _chunk_band(n, chunk)
    return int((hi - lo + 1).sum())


def layer_pairs(p, n: int, heads: int, device: Any = "cpu") -> tuple[int, int, str | None]:
    """(allowed pairs, dense pairs, note) of one layer over n tokens, summed over heads."""
    dense = heads * (n * (n + 1) // 2 if p.causal else n * n)
    if p.name == "prefix_lm":
        dense = heads * (p.prefix_len ** 2 + sum(i + 1 for i in range(p.prefix_len, n)))
    if p.name == "dense":
        return dense, dense, None
    if p.name == "lsh":
        band = _band_pairs(n, p.chunk) // (2 if p.causal else 1)
        return heads * p.n_hashes * band, dense, (
            f"lsh estimated: n_hashes({p.n_hashes}) x own+previous chunk({p.chunk}) per query"
            + (", halved for causal" if p.causal else ""))
    if p.name == "anchor":
        band = _band_pairs(n, p.chunk) // (2 if p.causal else 1)
        win = 0
        if p.window > 0:
            left, right = p.window_sides()
            win = count_pairs(SlidingWindow(left=left, right=right, causal=p.causal), n, 1, device=device)
        return heads * (band + win), dense, (
            f"anchor estimated: own+previous chunk({p.chunk}) per query"
            + (" halved for causal" if p.causal else "") + f" + window({p.window}); overlap not removed")
    if p.data_dependent:
        return dense, dense, f"{p.name} is data-dependent: counted as dense"
    return count_pairs(p, n, heads, device=device), dense, None


def flops_facts(model: nn.Module, n: int, matmul_params: int, device: Any = "cpu") -> dict[str, Any]:
    """Pairs and FLOPs per token over the backbone's n tokens (see the module docstring)."""
    cfg = model.config
    heads, d_head = cfg.num_heads, cfg.dim // cfg.num_heads
    cache: dict[Any, tuple[int, int, str | None]] = {}
    pairs = dense = 0
    notes: list[str] = []
    for p in model.patterns:  # layers sharing a pattern are counted once
        try:
            hash(p)
            key: Any = p
        except TypeError:  # a pattern holding an unhashable field
            key = p.describe()
        if key not in cache:
            cache[key] = layer_pairs(p, n, heads, device)
        a, d, note = cache[key]
        pairs, dense = pairs + a, dense + d
        if note and note not in notes:
            notes.append(note)
    mm = 6 * matmul_params
    return {
        "attn_pairs": pairs, "attn_pairs_dense": dense, "attn_density": pairs / dense if dense else None,
        "attn_pairs_note": "; ".join(notes) or "exact (count_pairs)",
        "model_flops_per_token": mm + 12 * d_head * pairs / n,
        "dense_equiv_flops_per_token": mm + 12 * d_head * dense / n,
    }
