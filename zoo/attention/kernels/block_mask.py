"""FlexAttention BlockMasks from our own block lists, and from a mask_mod without torch's
compiled ``create_block_mask``.

Why not ``create_block_mask(..., _compile=True)``: it lowers a stable ``argsort`` (turning the
block table into ordered indices) to a Triton sort whose cold compile takes minutes at some
lengths (pytorch/pytorch#182060; on the H200 with torch 2.11 the first fused call at 12k-16k
tokens took 190-310 s). Here only the part that must be fused runs compiled (the mask evaluated
tile by tile and reduced to per-block any/all, query rows in chunks so memory stays bounded);
the ordering is an eager sort over blocks, not tokens.
"""
from __future__ import annotations

import inspect
import os
from functools import lru_cache

import torch
from torch import Tensor

from ..layout import Component

# seconds spent building each fused BlockMask (compile included): a slow first training step
# says whether the mask build or the kernel compile took the time (tools/bench_train.py prints it)
BUILD_SECONDS: dict[str, float] = {}

_CHUNK_ELEMENTS = 1 << 27  # mask values per chunk when the build runs eagerly (CPU, or a fallback)
_CHUNK_ELEMENTS_COMPILED = 1 << 30  # compiled, only the (rows, key blocks) tables are materialised


def flex_complete(x: Tensor) -> bool:
    """Whether FlexAttention gives a log-sum-exp and a backward for ``x``'s device: on CUDA, or
    anywhere through its unfused path (``ZOO_FLEX_EAGER=1``, read per call)."""
    return x.is_cuda or os.environ.get("ZOO_FLEX_EAGER") == "1"


def records_grad(*xs: Tensor) -> bool:
    """Whether autograd records a call on these inputs (some need a gradient and grad mode is on)."""
    return torch.is_grad_enabled() and any(t.requires_grad for t in xs)


def _flex_params() -> frozenset:
    """Parameter names this torch's flex_attention (and BlockMask.from_kv_blocks) accept."""
    from torch.nn.attention import flex_attention as fa
    names = set(inspect.signature(fa.flex_attention).parameters)
    if "seq_lengths" in inspect.signature(fa.BlockMask.from_kv_blocks).parameters:
        names.add("seq_lengths")
    return frozenset(names)


# read once at import: a constant to the compiled graphs that call flex_lse (a cached function traced inside
# one made dynamo warn on every compile, session 27's H200 logs)
FLEX_PARAMS = _flex_params()


def flex_lse(fn, q: Tensor, k: Tensor, v: Tensor, **kw) -> tuple[Tensor, Tensor]:
    """fn (FlexAttention, compiled or not) on q, k, v -> (out, lse): ``return_lse`` before torch 2.9,
    ``return_aux`` after."""
    if "return_aux" in FLEX_PARAMS:
        from torch.nn.attention.flex_attention import AuxRequest
        out, aux = fn(q, k, v, return_aux=AuxRequest(lse=True), **kw)
        return out, aux.lse
    return fn(q, k, v, return_lse=True, **kw)


def head_group(h, groups: int, n_heads: int):
    """Head h's group (of a pattern's ``groups``) inside a mask_mod; no integer division for one group
    (the kernel evaluates it per element of every partial tile)."""
    return h * groups // n_heads if groups > 1 else h * 0


def from_kv_blocks(kv_num, kv_idx, full_num, full_idx, block: tuple[int, int], mask_mod, lengths):
    """BlockMask.from_kv_blocks, passing the true lengths where this torch accepts them. Every BlockMask
    here is made by it, so it is where blocks smaller than torch 2.11's default backward tiles get that
    lowering's fix (tiles.install_backward_filter_fix: once per process, never while tracing)."""
    from torch.nn.attention.flex_attention import BlockMask
    if min(block) < 128:
        from .tiles import install_backward_filter_fix
        install_backward_filter_fix()
    kw = {"seq_lengths": lengths} if "seq_lengths" in FLEX_PARAMS else {}
    return BlockMask.from_kv_blocks(kv_num, kv_idx, full_num, full_idx, BLOCK_SIZE=block, mask_mod=mask_mod, **kw)


def ordered(sel: Tensor, blocks: Tensor, width: int) -> tuple[Tensor, Tensor]:
    """Selected candidate blocks first, padded to ``width`` columns (FlexAttention's layout)."""
    big = 1 << 40
    srt = torch.sort(torch.where(sel, blocks, big), dim=-1).values
    num = sel.sum(-1).to(torch.int32)
    srt = torch.where(srt == big, 0, srt)
    if srt.shape[-1] < width:
        srt = torch.nn.functional.pad(srt, (0, width - srt.shape[-1]))
    return num, srt[..., :width].to(torch.int32).contiguous()


def component_structure(comp: Component, n_q: int, n_k: int, nqc: int, nkc: int, bq: int, bk: int, device,
                        use_full: bool, head_repeat: int = 1):
    """The BlockMask (mask_mod still to set) of a component's candidate blocks for this shape, cached on
    the component; with per-head lists (Hb > 1) each repeated ``head_repeat`` times in place (class
    heads c*H + h). ``use_full``: blocks every query fully allows skip the mask (exact components)."""
    from torch.nn.attention.flex_attention import noop_mask
    # routed components of different rules share one cache (routing._chunk_band): full blocks differ
    key = ("flex-structure", n_q, n_k, nqc, nkc, bq, bk, str(device), use_full and comp.exact, bool(comp.diag_bias),
           head_repeat)
    if key not in comp._cache:
        blocks = comp.blocks(n_q, n_k, bq, bk).to(device)  # (Hb, nQB, K)
        full = comp.full_blocks(n_q, n_k, bq, bk) if use_full else None
        full = torch.zeros_like(blocks, dtype=torch.bool) if full is None else full.to(device)
        if head_repeat > 1 and blocks.shape[0] > 1:
            blocks, full = blocks.repeat_interleave(head_repeat, 0), full.repeat_interleave(head_repeat, 0)
        valid = blocks >= 0
        nkb = -(-nkc // bk)
        kv_num, kv_idx = ordered(valid & ~full, blocks, nkb)
        full_num, full_idx = ordered(valid & full, blocks, nkb)
        comp._cache[key] = from_kv_blocks(kv_num[None], kv_idx[None], full_num[None], full_idx[None],
                                           (bq, bk), noop_mask, (nqc, nkc))
    return comp._cache[key]


def listed_blocks(bm, nkb: int) -> tuple[Tensor, Tensor]:
    """(partial, full) bool (B, H, nQB, nKB): the key blocks a BlockMask lists per query block."""
    out = []
    for num, idx in ((bm.kv_num_blocks, bm.kv_indices), (bm.full_kv_num_blocks, bm.full_kv_indices)):
        t = torch.zeros(bm.kv_num_blocks.shape + (nkb + 1,), dtype=torch.bool, device=bm.kv_indices.device)
        if num is not None:
            live = torch.arange(idx.shape[-1], device=idx.device) < num[..., None]
            t.scatter_(-1, torch.where(live, idx.long(), nkb), True)
        out.append(t[..., :nkb])
    return out[0], out[1]


def _tile_tables(mask_mod, heads: Tensor, q0: Tensor, n_q: int, n_k: int, rows: int, nkb: int,
                 block: int) -> tuple[Tensor, Tensor]:
    """(any, all) allowed per (head, query block, key block) for ``rows`` query rows from q0.

    Positions past n_q / n_k count as not allowed, so a tile that straddles the end is never
    "full" (FlexAttention then evaluates the mask there, which is always safe). One reduction over
    both tile axes of a 5-D view: reducing the keys, then reshaping the (H, rows, nKB) result to
    reduce the rows, compiled wrong on sm90 with torch 2.11 for two heads or more at an odd number
    (>= 5) of 64-token blocks (heads after the first read shifted tables; session 18, call 3)."""
    qi = (q0 + torch.arange(rows, device=heads.device))[None, :, None]  # (1, rows, 1)
    ki = torch.arange(nkb * block, device=heads.device)[None, None, :]  # (1, 1, NK)
    b = torch.zeros((), dtype=torch.long, device=heads.device)
    # masks may index tables sized for the sequence: evaluate clamped, then drop the overhang
    ok = mask_mod(b, heads, qi.clamp(max=n_q - 1), ki.clamp(max=n_k - 1)) & (qi < n_q) & (ki < n_k)  # (H|1, rows, NK)
    ok = ok.expand(heads.shape[0], rows, nkb * block).reshape(heads.shape[0], rows // block, block, nkb, block)
    return ok.any(4).any(2), ok.all(4).all(2)  # (H, rows / block, nKB)


def raise_recompile_limits() -> None:
    """Every (pattern, shape) is its own graph: past dynamo's default limit of 8 a compiled
    function silently runs eagerly, which for the tile reduction means materialising its chunk."""
    import torch._dynamo.config as dcfg
    for name in ("cache_size_limit", "recompile_limit", "accumulated_cache_size_limit",
                 "accumulated_recompile_limit"):
        if hasattr(dcfg, name):
            setattr(dcfg, name, max(getattr(dcfg, name), 1024))


def compiled_flex():
    """FlexAttention compiled (its fused kernels); its unfused path with ``ZOO_FLEX_EAGER=1`` (read per
    call, for debugging)."""
    from torch.nn.attention.flex_attention import flex_attention
    return flex_attention if os.environ.get("ZOO_FLEX_EAGER") == "1" else _compiled_flex()


@lru_cache(maxsize=None)
def _compiled_flex():
    from torch.nn.attention.flex_attention import flex_attention
    raise_recompile_limits()  # every (pattern, shape) is its own graph
    return torch.compile(flex_attention, dynamic=False)


def one_graph(fn):
    """``fn`` compiled as one graph, FlexAttention's kernels included (the row copies' merge then fuses
    with the slices instead of adding whole-size tensors: global_copies.py); ``fn`` itself,
    FlexAttention's unfused path, with ``ZOO_FLEX_EAGER=1`` (read per call)."""
    if os.environ.get("ZOO_FLEX_EAGER") == "1":
        return fn
    return _one_graph(fn)


@lru_cache(maxsize=None)
def _one_graph(fn):
    raise_recompile_limits()  # a graph per (pattern, shape)
    return torch.compile(fn, dynamic=False)


@lru_cache(maxsize=None)
def _compiled_tiles():
    raise_recompile_limits()
    return torch.compile(_tile_tables, dynamic=False)


def block_mask_from_mask_mod(mask_mod, heads: int, n_q: int, n_k: int, block: int, device: str):
    """A BlockMask (B=1, H=heads) for ``mask_mod``: partial and full key blocks per query block.

    On CUDA the tile reduction runs compiled (the mask is never materialised); on CPU, or if the
    compiler refuses the mask, it runs eagerly in chunks of query blocks (exact, only slower)."""
    nqb, nkb = -(-n_q // block), -(-n_k // block)
    h = torch.arange(heads, device=device)[:, None, None]
    compiled = str(device).startswith("cuda")
    while True:
        fn = _compiled_tiles() if compiled else _tile_tables
        budget = _CHUNK_ELEMENTS_COMPILED if compiled else _CHUNK_ELEMENTS
        per_chunk = max(1, min(nqb, budget // max(1, heads * block * nkb * block)))
        hits, fulls = [], []
        try:
            for c in range(0, nqb, per_chunk):  # every chunk the same shape: one compile
                q0 = torch.tensor(c * block, device=device)
                hit, full = fn(mask_mod, h, q0, n_q, n_k, per_chunk * block, nkb, block)
                hits.append(hit)
                fulls.append(full)
            break
        except Exception:  # noqa: BLE001 - any compiler failure: the eager build is exact
            if not compiled:
                raise
            compiled = False
    hit, full = torch.cat(hits, 1)[:, :nqb], torch.cat(fulls, 1)[:, :nqb]  # (H, nQB, nKB)
    idx = torch.arange(nkb, device=device).expand(hit.shape)
    kv_num, kv_idx = ordered(hit & ~full, idx, nkb)
    full_num, full_idx = ordered(full, idx, nkb)
    return from_kv_blocks(kv_num[None], kv_idx[None], full_num[None], full_idx[None], (block, block), mask_mod,
                          (n_q, n_k))
