"""Fused GPU attention per component through PyTorch FlexAttention.

Our components already know their candidate key blocks, so the BlockMask is assembled directly
from them (``BlockMask.from_kv_blocks``) instead of ``create_block_mask`` evaluating the mask on
every block pair; for static patterns it is built once per (shape, device) and cached on the
component. Blocks that every query fully allows go in the "full" list, which skips mask_mod.
Runs on torch 2.5+ (``return_lse`` before 2.9, ``return_aux`` after).
"""
from __future__ import annotations

import inspect
import os
from functools import lru_cache

import torch
from torch import Tensor

from ..layout import Component
from .gather import Gathered, gather, merge, scatter_rows


@lru_cache(maxsize=None)
def _compiled():
    from torch.nn.attention.flex_attention import flex_attention
    import torch._dynamo.config as dcfg
    # every (component, shape) is its own graph; the default limit of 8 would fall back to eager
    for name in ("cache_size_limit", "recompile_limit", "accumulated_cache_size_limit",
                 "accumulated_recompile_limit"):
        if hasattr(dcfg, name):
            setattr(dcfg, name, max(getattr(dcfg, name), 1024))
    if os.environ.get("ZOO_FLEX_EAGER") == "1":  # unfused reference path of FlexAttention (debugging)
        return flex_attention
    return torch.compile(flex_attention, dynamic=False)


@lru_cache(maxsize=None)
def _flex_params() -> set[str]:
    from torch.nn.attention import flex_attention as fa
    return set(inspect.signature(fa.flex_attention).parameters) | {
        "seq_lengths" if "seq_lengths" in inspect.signature(fa.BlockMask.from_kv_blocks).parameters else ""}


def _ordered(sel: Tensor, blocks: Tensor, width: int) -> tuple[Tensor, Tensor]:
    """Selected candidate blocks first, padded to ``width`` columns (FlexAttention's layout)."""
    big = torch.iinfo(torch.int64).max
    keyed = torch.where(sel, blocks, big)
    srt = torch.sort(keyed, dim=-1).values
    num = sel.sum(-1).to(torch.int32)
    srt = torch.where(srt == big, 0, srt)
    if srt.shape[-1] < width:
        srt = torch.nn.functional.pad(srt, (0, width - srt.shape[-1]))
    return num, srt[..., :width].to(torch.int32).contiguous()


def _block_mask(comp: Component, g: Gathered, n_q: int, n_k: int, bq: int, bk: int,
                key_padding_mask: Tensor | None):
    from torch.nn.attention.flex_attention import BlockMask
    B, hc, nqc, _ = g.q.shape
    nkc = g.k.shape[2]
    dev = g.q.device
    blocks = comp.blocks(n_q, n_k, bq, bk).to(dev)  # (Hb, nQB, K)
    full = comp.full_blocks(n_q, n_k, bq, bk) if key_padding_mask is None else None
    full = torch.zeros_like(blocks, dtype=torch.bool) if full is None else full.to(dev)
    valid = blocks >= 0
    nkb = -(-nkc // bk)
    kv_num, kv_idx = _ordered(valid & ~full, blocks, nkb)
    full_num, full_idx = _ordered(valid & full, blocks, nkb)
    q_abs = g.q_abs.expand(g.q_abs.shape[0], g.q_abs.shape[1], nqc).contiguous()
    k_abs = g.k_abs.expand(g.k_abs.shape[0], g.k_abs.shape[1], nkc).contiguous()
    qb_dim, qh_dim = q_abs.shape[0] > 1, q_abs.shape[1] > 1
    kb_dim, kh_dim = k_abs.shape[0] > 1, k_abs.shape[1] > 1
    heads = g.heads
    kpm = key_padding_mask
    mask_fn = comp.mask

    def mask_mod(b, h, qi, ki):
        qa = q_abs[b if qb_dim else 0, h if qh_dim else 0, qi]
        ka = k_abs[b if kb_dim else 0, h if kh_dim else 0, ki]
        ok = mask_fn(b, heads[h], qa, ka) & (qa >= 0) & (ka >= 0)
        if kpm is not None:
            ok = ok & kpm[b, ka.clamp(min=0)]
        return ok
    kw = {}
    if "seq_lengths" in _flex_params():
        kw["seq_lengths"] = (nqc, nkc)
    return BlockMask.from_kv_blocks(kv_num[None], kv_idx[None], full_num[None], full_idx[None],
                                    BLOCK_SIZE=(bq, bk), mask_mod=mask_mod, **kw)


def _run(q: Tensor, k: Tensor, v: Tensor, block_mask, scale: float, kernel_options=None, need_lse=True):
    fn = _compiled()
    kw = {"block_mask": block_mask, "scale": scale}
    if kernel_options:
        kw["kernel_options"] = kernel_options
    if not need_lse:  # FlexAttention on CPU returns no lse; a single piece needs none
        out = fn(q, k, v, **kw)
        return out, torch.zeros(out.shape[:-1], device=out.device)
    if "return_aux" in _flex_params():
        from torch.nn.attention.flex_attention import AuxRequest
        out, aux = fn(q, k, v, return_aux=AuxRequest(lse=True), **kw)
        return out, aux.lse
    return fn(q, k, v, return_lse=True, **kw)


def _any_key(comp: Component, g: Gathered, n_q: int, n_k: int, block: int, kpm) -> Tensor:
    """Which rows have at least one allowed key (CPU single-piece path, no lse available)."""
    from .reference import component_attention
    _, lse = component_attention(g, comp, n_q, n_k, 1.0, kpm, block, block)
    return torch.isfinite(lse)


def flex_attention(q: Tensor, k: Tensor, v: Tensor, components: list[Component], *, scale: float,
                   key_padding_mask: Tensor | None = None, k_start: int = 0, block: int = 128,
                   kernel_options: dict | None = None) -> tuple[Tensor, Tensor]:
    """Run every component with FlexAttention and merge by log-sum-exp -> (out, lse)."""
    B, H, n_q, _ = q.shape
    n_k = k.shape[2]
    kpm = None
    if key_padding_mask is not None:
        kpm = torch.nn.functional.pad(key_padding_mask.bool(), (k_start, 0), value=False)
    pieces = []
    live = [c for c in components]
    eager = os.environ.get("ZOO_FLEX_EAGER") == "1"
    need_lse = q.is_cuda or eager or len(live) > 1
    if need_lse and not (q.is_cuda or eager):
        raise ValueError(f"backend='flex' on CPU runs single-piece patterns only (FlexAttention returns no "
                         f"log-sum-exp on CPU); this pattern has {len(live)} pieces: use backend='reference'")
    for comp in components:
        g = gather(q, k, v, comp, k_start)
        if g.q.shape[2] == 0 or g.k.shape[2] == 0:
            continue
        key = ("flex", n_q, n_k, block, str(q.device))
        static = kpm is None and comp.q_pos is not None and comp.q_pos.dim() == 1 or \
            kpm is None and comp.q_pos is None
        if static and comp.k_pos is not None and comp.k_pos.dim() != 1:
            static = False
        if static and key in comp._cache:
            bm = comp._cache[key]
        else:
            bm = _block_mask(comp, g, n_q, n_k, block, block, kpm)
            if static:
                comp._cache[key] = bm
        out, lse = _run(g.q, g.k, g.v, bm, scale, kernel_options, need_lse)
        lse = lse.float() if need_lse else torch.where(_any_key(comp, g, n_q, n_k, block, kpm), 0.0, float("-inf"))
        pieces.append((scatter_rows(out, g, n_q, H, 0.0), scatter_rows(lse, g, n_q, H, float("-inf"))))
    if not pieces:
        return q.new_zeros(q.shape[:-1] + (v.shape[-1],)), q.new_full(q.shape[:-1], float("-inf"))
    out, lse = merge([(o.float(), l) for o, l in pieces]) if len(pieces) > 1 else merge(pieces)
    return out.to(q.dtype), lse
