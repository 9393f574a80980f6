"""Fused GPU attention through PyTorch FlexAttention.

Static patterns whose ``fused_flex`` is set run as one BlockMask (``fused_flex_attention``: built
once per pattern and shape from the pattern's traceable mask, ``block_mask.py``). The others
(Sparse Transformer's permuted pieces, dilated residue classes, routed lsh/anchor, per-example
global masks) run per component and merge by log-sum-exp (``flex_attention``; routed chunk bands
in their sorted order, ``routed.py``):

Our components already know their candidate key blocks, so the BlockMask is assembled directly
from them (``BlockMask.from_kv_blocks``) instead of ``create_block_mask`` evaluating the mask on
every block pair. Its block structure is built once per (component, shape, device) and cached;
a call with per-input data (padding, routed positions) only swaps in a new mask_mod. Blocks that
every query fully allows go in the "full" list, which skips mask_mod. Tensors a mask reads are
captured by the mask_mod closure so the compiled kernel receives them as inputs.
Runs on torch 2.5+ (``return_lse`` before 2.9, ``return_aux`` after).
"""
from __future__ import annotations

import copy
import time
from functools import lru_cache

import torch
from torch import Tensor

from ..layout import Component
from ..patterns import runs_fused
from . import global_copies, global_rows, joined
from .block_mask import (BUILD_SECONDS, block_mask_from_mask_mod, compiled_flex, component_structure, flex_complete,
                         flex_lse, from_kv_blocks, head_group, listed_blocks, ordered, records_grad)
from .classes import (class_layout, class_mask_mod, class_split, from_classes, local_component, runs_as_classes,
                      to_classes)
from .gather import (Gathered, combine, gather, head_index, head_of, lse_dtype, put_heads, scatter_rows,
                     take_heads)
from .routed import sorted_components, sorted_pieces
from .tiles import copies_rows32, flex_tiles, fused_block, joined_rows32


_compiled = compiled_flex  # a module attribute, so tests can spy on the pieces' calls


def _lookup(pos: Tensor, n: int):
    """Index function into (B|1, H|1, n) positions usable inside a mask_mod."""
    pos = pos.expand(pos.shape[0], pos.shape[1], n).contiguous()
    per_b, per_h = pos.shape[0] > 1, pos.shape[1] > 1
    return lambda b, h, idx: pos[b if per_b else 0, h if per_h else 0, idx]


def _mask_mod(comp: Component, g: Gathered, key_padding_mask: Tensor | None, q0: int, k0: int):
    """The component's mask_mod in its processing order, on absolute positions: read from the gathered
    positions, or q0 + qi and k0 + ki where the component keeps the natural order (q_pos / k_pos None),
    and every head as itself where it covers all (the kernel evaluates the mask per element of a partial
    tile, where a table read costs more than arithmetic: kernels/joined.py's positions, session 28)."""
    gathered = comp.q_pos is not None or comp.k_pos is not None
    q_at = _lookup(g.q_abs, g.q.shape[2]) if comp.q_pos is not None else (lambda b, h, idx: idx + q0)
    k_at = _lookup(g.k_abs, g.k.shape[2]) if comp.k_pos is not None else (lambda b, h, idx: idx + k0)
    heads, bufs, mask_fn, kpm = g.heads, comp.buffers_on(g.q.device), comp.mask, key_padding_mask
    head = head_of(comp, heads)

    no_self = bool(comp.diag_bias)  # Reformer: self only when alone, filled in after the merge

    def mask_mod(b, h, qi, ki):
        qa, ka = q_at(b, h, qi), k_at(b, h, ki)
        ok = mask_fn(b, head(h), qa, ka, *bufs)
        if gathered:  # -1: a gathered slot with no position
            ok = ok & (qa >= 0) & (ka >= 0)
        if no_self:
            ok = ok & (qa != ka)
        if kpm is not None:
            ok = ok & kpm[b, ka.clamp(min=0)]
        return ok
    return mask_mod


def _run(q: Tensor, k: Tensor, v: Tensor, block_mask, scale: float, kernel_options=None,
         need_lse=True):
    fn = _compiled()
    kw = {"block_mask": block_mask, "scale": scale}
    kernel_options = flex_tiles(q, block_mask.BLOCK_SIZE, kernel_options)
    if kernel_options:
        kw["kernel_options"] = kernel_options
    if not need_lse:  # FlexAttention on CPU returns no lse; a single piece needs none
        out = fn(q, k, v, **kw)
        return out, torch.zeros(out.shape[:-1], device=out.device)
    return flex_lse(fn, q, k, v, **kw)


def _any_key(comp: Component, g: Gathered, n_q: int, n_k: int, block: int, kpm) -> Tensor:
    """Which rows have at least one allowed key (CPU single-piece path, no lse available)."""
    from .reference import component_attention
    _, lse = component_attention(g, comp, n_q, n_k, 1.0, kpm, block, block)
    return torch.isfinite(lse)


def _static(comp: Component, kpm) -> bool:
    """Same BlockMask on every call: no padding and positions fixed by the shape alone."""
    return kpm is None and all(p is None or p.dim() == 1 for p in (comp.q_pos, comp.k_pos))


def _block_mask(comp: Component, key: tuple, kpm, build):
    """The component's BlockMask: build() -> (cached block structure, mask_mod). A static one is
    kept in the component's cache under ``key``; padding or routed positions give a new mask_mod
    on the same structure every call."""
    static = _static(comp, kpm)
    if static and key in comp._cache:
        return comp._cache[key]
    structure, mask_mod = build()
    bm = copy.copy(structure)
    bm.mask_mod = mask_mod
    if static:
        comp._cache[key] = bm
    return bm


def flex_attention(q: Tensor, k: Tensor, v: Tensor, components: list[Component], *, scale: float,
                   key_padding_mask: Tensor | None = None, k_start: int = 0, block: int | None = None,
                   kernel_options: dict | None = None) -> tuple[Tensor, Tensor]:
    """Run every component with FlexAttention and merge by log-sum-exp -> (out, lse). ``block``: the
    BlockMask's block, by default 128, and for a piece run as class heads what ``fused_block`` picks for
    its n/r-token classes (64 on the H200: dilation 2's two causal 512-key windows 2.76 -> 2.33 ms fwd+bwd
    at 16k, strided 4.05 -> 3.97; attention_h200.json run 58)."""
    B, H, n_q, _ = q.shape
    n_k = k.shape[2]
    kpm = None
    if key_padding_mask is not None:
        kpm = torch.nn.functional.pad(key_padding_mask.bool(), (k_start, 0), value=False)
    complete = flex_complete(q)
    need_lse = complete or len(components) > 1 or any(c.diag_bias for c in components)
    if need_lse and not complete:
        raise ValueError(f"backend='flex' on CPU runs single-piece static patterns only (FlexAttention returns "
                         f"no log-sum-exp on CPU); this pattern has {len(components)} pieces or routes per input: "
                         f"use backend='reference'")
    pieces, piece_block = [], block or 128
    routed = sorted_components(components, q, n_k, k_start) if need_lse else []
    if routed:
        pieces += sorted_pieces(q, k, v, routed, scale=scale, kpm=kpm, kernel_options=kernel_options, run=_run)
    for comp in components:
        if any(comp is c for c in routed):
            continue
        if comp.fused is not None and need_lse and runs_fused(comp.fused, (n_q, n_k, H, k_start)):
            pieces.append(fused_flex_attention(q, k, v, comp.fused, scale=scale, key_padding_mask=key_padding_mask,
                                               k_start=k_start, kernel_options=kernel_options))
            continue
        r = class_split(comp, n_q, n_k, k_start) if need_lse else 0
        if r:
            cblock = block or fused_block(q.device, q.dtype, n_q // r, q.shape[-1])
            pieces.append(_class_piece(comp, q, k, v, r, kpm, scale, cblock, kernel_options))
            continue
        g = gather(q, k, v, comp, k_start)
        nqc, nkc = g.q.shape[2], g.k.shape[2]
        if nqc == 0 or nkc == 0:
            continue
        bm = _block_mask(comp, ("flex-mask", n_q, n_k, piece_block, str(q.device)), kpm, lambda: (
            component_structure(comp, n_q, n_k, nqc, nkc, piece_block, piece_block, q.device, use_full=kpm is None),
            _mask_mod(comp, g, kpm, k_start + n_k - n_q, k_start)))
        out, lse = _run(g.q, g.k, g.v, bm, scale, kernel_options, need_lse)
        if need_lse:
            lse = lse_dtype(lse)
        else:
            lse = torch.where(_any_key(comp, g, n_q, n_k, piece_block, kpm), 0.0, float("-inf"))
        pieces.append((scatter_rows(out, g, n_q, H, 0.0), scatter_rows(lse, g, n_q, H, float("-inf"))))
    return combine(pieces, components, q, k, v, kpm, scale)


def _class_piece(comp: Component, q: Tensor, k: Tensor, v: Tensor, r: int, kpm, scale: float, block: int,
                 kernel_options) -> tuple[Tensor, Tensor]:
    """A per-class component as r heads of n/r tokens on strided views (classes.py) -> its
    (out (B, H, n, D), lse (B, H, n)) piece in natural order."""
    B, H, n, _ = q.shape
    heads = head_index(comp, H, q.device)
    parts = take_heads(comp, heads, q, k, v)
    layout = class_layout(r, *parts)
    qc, kc, vc = (to_classes(x, r, layout) for x in parts)  # (B*Hc, r, n/r, D) or (B, r*Hc, n/r, D)
    bm = _class_block_mask(comp, n, r, heads, kpm, layout, block, q.device)
    out, lse = _run(qc, kc, vc, bm, scale, kernel_options)
    subset = comp.heads is not None
    return (put_heads(from_classes(out, B, layout, r), heads, subset, H, 0.0),
            put_heads(from_classes(lse_dtype(lse), B, layout, r), heads, subset, H, float("-inf")))


def _class_block_mask(comp: Component, n: int, r: int, heads: Tensor, kpm, layout: str, block: int, device):
    """The BlockMask of a per-class component on its class view (cached when static)."""
    m = n // r
    repeat = heads.shape[0] if layout == "heads" else 1  # per-class block lists, one copy per head of a class
    return _block_mask(comp, ("flex-class-mask", n, block, str(device), layout, repeat), kpm, lambda: (
        component_structure(local_component(comp, n, r), m, m, m, m, block, block, device, use_full=kpm is None,
                            head_repeat=repeat),
        class_mask_mod(comp, r, heads, kpm, layout)))


@lru_cache(maxsize=256)
def class_block_mask(pattern, n: int, n_heads: int, device, block: int = 128, layout: str = "batch"):
    """(r, BlockMask, layout) of a static pattern that runs as one residue-class piece over n tokens,
    for that class view of q, k, v ("batch": free for contiguous (B, H, n, D); "heads": free for the
    projection's (B, n, H, D) transposed): what a compiled block hands FlexAttention inside its own
    graph (``graph_mask``); None for any other pattern."""
    if not runs_as_classes(pattern, n, n, n_heads):
        return None
    comp = pattern.components(n, n, n_heads, 0)[0]  # cached per shape
    r = class_split(comp, n, n, 0)
    return r, _class_block_mask(comp, n, r, head_index(comp, n_heads, device), None, layout, block, device), layout


# ---------------------------------------------------------------------------------------------
# the fused path: one BlockMask for a whole static pattern


@lru_cache(maxsize=256)
def _fused_structure(pattern, n_q: int, n_k: int, n_heads: int, k_start: int, block: int, device: str,
                     padded: bool):
    """BlockMask of a static pattern for this shape, built once from the pattern's traceable
    mask. With padding every block stays partial, since padded keys can fall in any block; the
    per-call mask_mod then adds the padding."""
    if padded:
        return _all_partial(_fused_structure(pattern, n_q, n_k, n_heads, k_start, block, device, False), n_q, n_k)
    return _built(lambda kernel: _fused_mask_mod(pattern, n_q, n_k, n_heads, k_start, device, None, kernel),
                  pattern, n_heads, n_q, n_k, block, device, f"{pattern!r} {n_q}x{n_k}")


def _built(mask_mod_of, pattern, n_heads: int, n_q: int, n_k: int, block: int, device: str, label: str):
    """A BlockMask evaluated from ``mask_mod_of(False)`` (the build's form of the pattern's mask), carrying
    ``mask_mod_of(True)`` (the kernel's form); its seconds go to BUILD_SECONDS[label]."""
    heads = n_heads if pattern.head_groups() > 1 else 1
    t0 = time.perf_counter()
    bm = block_mask_from_mask_mod(mask_mod_of(False), heads, n_q, n_k, block, device)
    BUILD_SECONDS[label] = round(time.perf_counter() - t0, 2)
    bm.mask_mod = mask_mod_of(True)
    return bm


def _padded(bm, kpm: Tensor | None, mask_mod_of):
    """bm itself without padding, else a copy carrying ``mask_mod_of(kpm)`` (same block structure)."""
    if kpm is None:
        return bm
    bm = copy.copy(bm)
    bm.mask_mod = mask_mod_of(kpm)
    return bm


def _all_partial(bm, n_q: int, n_k: int):
    """bm with every listed block partial: padded keys can fall in any block, so the per-call
    mask_mod (which adds the padding) must run on all of them."""
    block = bm.BLOCK_SIZE[1]
    nkb = -(-n_k // block)
    partial, full = listed_blocks(bm, nkb)
    hit = partial | full  # (B, H, nQB, nKB)
    num, idx = ordered(hit, torch.arange(nkb, device=hit.device).expand(hit.shape), nkb)
    return from_kv_blocks(num, idx, None, None, tuple(bm.BLOCK_SIZE), bm.mask_mod, (n_q, n_k))


@lru_cache(maxsize=256)
def _copies_structure(pattern, plan: global_copies.Plan, n_heads: int, device: str, padded: bool):
    """BlockMask of a pattern with its global rows and columns as copies (global_copies.py) over
    (n_q', n_k'), built once per (pattern, plan, heads, device) like ``_fused_structure``."""
    if padded:
        return _all_partial(_copies_structure(pattern, plan, n_heads, device, False), plan.n_q, plan.n_k)
    return _built(lambda kernel: _copies_mask_mod(pattern, plan, n_heads, device, None, kernel),
                  pattern, n_heads, plan.n_q, plan.n_k, plan.block, device, f"{pattern!r} {plan}")


def _copies_mask_mod(pattern, plan, n_heads: int, device, kpm: Tensor | None, kernel: bool = True):
    fn, bufs = _mask_parts_on(pattern, plan.n, str(device), kernel)
    return global_copies.mask_mod(fn, bufs, plan, pattern.head_groups(), n_heads, kpm)


def _copies_attention(q: Tensor, k: Tensor, v: Tensor, pattern, plan, kpm: Tensor | None, scale: float,
                      kernel_options) -> tuple[Tensor, Tensor]:
    """A fused pattern with its global tokens as copies (global_copies.py) -> (out, lse)."""
    bm = _padded(_copies_structure(pattern, plan, q.shape[1], str(q.device), kpm is not None), kpm,
                 lambda m: _copies_mask_mod(pattern, plan, q.shape[1], q.device, m))
    tiles = _key_copies_tiles(q, bm, kernel_options, copies_rows32(pattern.name))
    out, lse = global_copies.compiled_attention()(q, k, v, plan, bm, scale, tiles)
    return out, lse_dtype(lse)


def _key_copies_tiles(q: Tensor, bm, kernel_options, rows32: bool) -> dict | None:
    """kernel_options of a call whose appended key copies walk every query block (global copies, joined):
    the backward's 32-row steps (BWD_TILES_32) only where the caller's case won with them (``rows32``); there
    they lost as often as they won (BigBird's copies, fixed joined at 64k: kernels/tiles.py)."""
    return flex_tiles(q, bm.BLOCK_SIZE, kernel_options, rows32=rows32) or None


@lru_cache(maxsize=256)
def _mask_parts_on(pattern, n: int, device: str, kernel: bool):
    """The pattern's traceable mask (the kernel's form or the BlockMask build's) with its tables
    already on the device: padded inputs make a new mask_mod every call, and must not copy the
    tables host -> device every time."""
    fn, bufs = pattern.kernel_mask_parts(n) if kernel else pattern.mask_parts(n)
    return fn, tuple(b.to(device) for b in bufs)


def _fused_mask_mod(pattern, n_q: int, n_k: int, n_heads: int, k_start: int, device, kpm: Tensor | None,
                    kernel: bool = True):
    fn, bufs = _mask_parts_on(pattern, k_start + n_k, str(device), kernel)
    groups, q_off = pattern.head_groups(), k_start + n_k - n_q

    def mask_mod(b, h, qi, ki):
        ok = fn(head_group(h, groups, n_heads), qi + q_off, ki + k_start, *bufs)
        return ok if kpm is None else ok & kpm[b, ki]
    return mask_mod


def fused_block_mask(pattern, n: int, n_heads: int, device, block: int = 128):
    """The cached BlockMask of a fused static pattern over n tokens of self-attention without
    padding: what a compiled block hands FlexAttention inside its own graph (``graph_mask``)."""
    return _fused_structure(pattern, n, n, n_heads, 0, block, str(device), False)


def fused_flex_attention(q: Tensor, k: Tensor, v: Tensor, pattern, *, scale: float,
                         key_padding_mask: Tensor | None = None, k_start: int = 0, block: int | None = None,
                         kernel_options: dict | None = None) -> tuple[Tensor, Tensor | None]:
    """A static pattern as one FlexAttention call on blocks of ``block`` tokens (by default the
    block ``fused_block`` picks for q) -> (out, lse; lse None on CPU)."""
    B, H, n_q, _ = q.shape
    block = block or fused_block(q.device, q.dtype, n_q, q.shape[-1])
    n_k = k.shape[2]
    kpm = None if key_padding_mask is None else key_padding_mask.bool()
    need_lse, grad = flex_complete(q), records_grad(q, k, v)
    plan = global_copies.plan(pattern, n_q, n_k, k_start, block, grad) if need_lse else None
    if plan is not None:
        return _copies_attention(q, k, v, pattern, plan, kpm, scale, kernel_options)
    rows = global_rows.split_rows(pattern, n_q, n_k, k_start, grad) if need_lse else 0
    if rows:
        return global_rows.attention(q, k, v, pattern, rows, block, fused_flex_attention, scale=scale,
                                     key_padding_mask=key_padding_mask, kernel_options=kernel_options)
    bm = _padded(_fused_structure(pattern, n_q, n_k, H, k_start, block, str(q.device), kpm is not None), kpm,
                 lambda m: _fused_mask_mod(pattern, n_q, n_k, H, k_start, q.device, m))
    out, lse = _run(q, k, v, bm, scale, kernel_options, need_lse)
    return out, lse_dtype(lse) if need_lse else None


# ---------------------------------------------------------------------------------------------
# the joined path: natural keys plus copies of a piece's gathered keys in one call (joined.py)


@lru_cache(maxsize=256)
def _joined_parts_on(pattern, n: int, device: str):
    pos, fn, bufs = pattern.joined_parts(n)
    return pos.to(device), fn, tuple(b.to(device) for b in bufs)


def _joined_mask_mod(pattern, n: int, n_heads: int, device, kpm: Tensor | None, kernel: bool = True):
    """The kernel's form reads the appended keys' positions in closed form where the pattern has one."""
    pos, fn, bufs = _joined_parts_on(pattern, n, str(device))
    return joined.mask_mod(fn, bufs, pos, n, pattern.head_groups(), n_heads, kpm,
                           pattern.joined_position() if kernel else None)


@lru_cache(maxsize=256)
def _joined_structure(pattern, n: int, n_heads: int, block: int, device: str, padded: bool):
    """BlockMask of a joined pattern over (n, n + S), built once per (pattern, n, heads, block, device)."""
    n_k = n + _joined_parts_on(pattern, n, device)[0].numel()
    if padded:
        return _all_partial(_joined_structure(pattern, n, n_heads, block, device, False), n, n_k)
    return _built(lambda kernel: _joined_mask_mod(pattern, n, n_heads, device, None, kernel), pattern, n_heads, n, n_k,
                  block, device, f"{pattern!r} joined {n}")


def joined_flex_attention(q: Tensor, k: Tensor, v: Tensor, pattern, *, scale: float,
                          key_padding_mask: Tensor | None = None, kernel_options: dict | None = None
                          ) -> tuple[Tensor, Tensor]:
    """Self-attention of a pattern that ``joins(n)`` as one FlexAttention call over [k; k[pos]] -> (out, lse)."""
    B, H, n, _ = q.shape
    pattern.validate(n, n, H)
    kpm = None if key_padding_mask is None else key_padding_mask.bool()
    block = fused_block(q.device, q.dtype, n, q.shape[-1])
    bm = _padded(_joined_structure(pattern, n, H, block, str(q.device), kpm is not None), kpm,
                 lambda m: _joined_mask_mod(pattern, n, H, q.device, m))
    pos = _joined_parts_on(pattern, n, str(q.device))[0]
    tiles = _key_copies_tiles(q, bm, kernel_options, joined_rows32(n))
    out, lse = joined.compiled_attention()(q, k, v, pos, bm, scale, tiles)
    return out, lse_dtype(lse)
