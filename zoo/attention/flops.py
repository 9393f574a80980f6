"""Counting the work a pattern asks for: allowed (query, key) pairs and computed blocks.

Useful FLOPs (FlashAttention's convention, used in benchmarks/): 4 * B * D * pairs forward
(pairs summed over heads), x 3.5 for forward + backward. Block FLOPs count every (query block,
key block) tile a block-sparse kernel touches, so the gap between the two is wasted work.
"""
from __future__ import annotations

import torch

from .kernels.gather import gather
from .patterns import Pattern, runs_fused


@torch.no_grad()
def count_pairs(pattern: Pattern, n: int, n_heads: int, device="cpu", chunk: int = 1 << 24) -> int:
    """Allowed (query, key) pairs of full self-attention over n tokens, summed over heads."""
    if pattern.data_dependent:
        raise ValueError(f"{pattern.name} routes per input: count its pairs from a routed call")
    total = 0
    for comp in pattern.components(n, n, n_heads):
        dummy = torch.zeros(1, n_heads, n, 1, device=device)
        g = gather(dummy, dummy, dummy, comp, 0)
        blocks = comp.blocks(n, n, 64, 64).to(device)  # (Hb, nQB, K)
        hb, nqb, kb = blocks.shape
        nqc, nkc = g.q.shape[2], g.k.shape[2]
        step = max(1, chunk // (64 * 64 * kb * max(hb, len(g.heads))))
        heads = g.heads.view(-1, 1, 1, 1)
        for s in range(0, nqb, step):
            blk = blocks[:, s:s + step]  # (Hb, b, K)
            qi = torch.arange(s * 64, min((s + blk.shape[1]) * 64, nqb * 64), device=device)
            qa = torch.where(qi < nqc, g.q_abs[0, 0, qi.clamp(max=nqc - 1)], -1).view(1, -1, 64, 1)
            kidx = (blk[..., None] * 64 + torch.arange(64, device=device)).flatten(-2)  # (Hb, b, K*64)
            kvalid = (blk >= 0).repeat_interleave(64, -1) & (kidx < nkc)
            ka = torch.where(kvalid, g.k_abs[0, 0, kidx.clamp(0, nkc - 1)], -1)[:, :, None, :]
            ok = comp.mask(torch.zeros((), dtype=torch.long, device=device), heads, qa, ka,
                           *comp.buffers_on(device))
            ok = ok & (qa >= 0) & (ka >= 0)
            total += int(ok.expand(len(g.heads), *ok.shape[1:]).sum())
    return total


def block_pairs(pattern: Pattern, n: int, n_heads: int, block: int | None = None, device="cpu",
                dtype=torch.bfloat16, head_dim: int = 64) -> int:
    """(query, key) pairs inside the tiles the flex backend computes on a GPU for forward+backward,
    summed over heads: a fused pattern's one BlockMask, or its global copies' where those run
    (kernels/global_copies.py), a joined pattern's call over its keys and their copies
    (kernels/joined.py), each by default on the block ``fused_block`` picks for inputs of ``dtype`` and
    ``head_dim``; else the candidate tiles of each component (on 128-token blocks; a component run as
    class heads on the block ``fused_block`` picks for its classes), as ``flex_attention`` runs them."""
    from .kernels import flex, global_copies, joined
    from .kernels.block_mask import listed_blocks
    from .kernels.tiles import fused_block
    fused, joins = runs_fused(pattern, (n, n, n_heads, 0)), joined.applies(pattern, n, n, 0)
    if fused or joins:
        block = block or fused_block(torch.device(device), dtype, n, head_dim)
        plan = global_copies.plan(pattern, n, n, 0, block, grad=True) if fused else None
        if joins:
            bm = flex._joined_structure(pattern, n, n_heads, block, str(device), False)
        elif plan is not None:
            bm = flex._copies_structure(pattern, plan, n_heads, str(device), False)
        else:
            bm = flex._fused_structure(pattern, n, n, n_heads, 0, block, str(device), False)
        partial, full = listed_blocks(bm, bm.kv_indices.shape[-1])  # one index column per key block
        hit = partial | full  # (1, H or 1, nQB, nKB)
        return int(hit.sum()) * block * block * (n_heads // hit.shape[1])
    return sum(_component_pairs(c, n, n_heads, block, torch.device(device), dtype, head_dim)
               for c in pattern.components(n, n, n_heads))


def _component_pairs(comp, n: int, n_heads: int, block: int | None, device, dtype, head_dim: int) -> int:
    from .kernels.classes import class_split, local_component
    from .kernels.tiles import fused_block
    hc = n_heads if comp.heads is None else len(comp.heads)
    r = class_split(comp, n, n, 0)
    if r:  # r classes of n/r tokens run as heads: (1 | r, nQB, K) tiles, each head's
        block = block or fused_block(device, dtype, n // r, head_dim)
        blocks = local_component(comp, n, r).blocks(n // r, n // r, block, block)
        copies = hc * r // blocks.shape[0]
    else:
        block = block or 128
        blocks = comp.blocks(n, n, block, block)  # (1 | Hc, nQB, K)
        copies = hc // blocks.shape[0]
    return int((blocks >= 0).sum()) * block * block * copies
