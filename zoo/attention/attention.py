"""The dispatcher every model calls, the SparseSelfAttention module and its KV cache."""
from __future__ import annotations

import dataclasses
import math
import os

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.attention.flex_attention import BlockMask, flex_attention

from . import patterns as P
from .kernels.block_mask import flex_complete, records_grad
from .kernels.classes import from_classes, to_classes
from .kernels.tiles import flex_tiles
from .kernels.dense import dense_attention
from .kernels.joined import applies as joined_applies
from .kernels.reference import reference_attention
from .projection import QKVProjection

BACKENDS = ("auto", "reference", "flex", "dense")
GraphMask = BlockMask | tuple[int, BlockMask, str] | bool | None  # SparseSelfAttention.graph_mask
DECODE_QUERIES = 16
SMALL_DENSE = 256 * 256  # query x key pairs under which "auto" runs the exact masked dense path


def _check(q: Tensor, k: Tensor, v: Tensor, key_padding_mask, global_mask, backend) -> None:
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4:
        raise ValueError(f"q, k, v must have shape (B, H, N, D); got {tuple(q.shape)}, {tuple(k.shape)}, "
                         f"{tuple(v.shape)}")
    if q.shape[:2] != k.shape[:2] or k.shape[:3] != v.shape[:3] or q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q, k, v shapes disagree: {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    if q.shape[2] > k.shape[2]:
        raise ValueError(f"q has more positions ({q.shape[2]}) than k ({k.shape[2]})")
    B, n_k = q.shape[0], k.shape[2]
    for name, m, n in (("key_padding_mask", key_padding_mask, n_k), ("global_mask", global_mask, n_k)):
        if m is not None and (m.dim() != 2 or tuple(m.shape) != (B, n)):
            raise ValueError(f"{name} must be bool of shape (B, N) = ({B}, {n}), got {tuple(m.shape)}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")


def auto_backend(pattern: P.Pattern, n_q: int, n_k: int, on_cuda: bool, return_lse: bool = False) -> str:
    """What ``backend="auto"`` runs. Short static attention (Nq x Nk <= SMALL_DENSE) takes the
    exact masked dense path, on GPUs too: for easy-VQA's 77 tokens SDPA beat FlexAttention's
    per-batch padded BlockMask by 16% in whole training steps (benchmarks/step_rate_h200.md).
    Otherwise flex on a GPU; decode steps (a few queries, a new length each) skip flex's per-shape
    compile and take the reference path."""
    if not pattern.data_dependent and not return_lse and n_q * n_k <= SMALL_DENSE:
        return "dense"
    return "flex" if on_cuda and n_q > DECODE_QUERIES else "reference"


def sparse_attention(q: Tensor, k: Tensor, v: Tensor, pattern: P.Pattern, *, causal: bool | None = None,
                     key_padding_mask: Tensor | None = None, global_mask: Tensor | None = None,
                     backend: str = "auto", scale: float | None = None, k_start: int = 0,
                     return_lse: bool = False, **routing_state):
    """Attention of q (B, H, Nq, D) over k, v (B, H, Nk, D) restricted to ``pattern``.

    Queries are the last Nq of the key positions k_start .. k_start + Nk - 1. key_padding_mask and
    global_mask are bool (B, Nk), True = real / global token. Rows with no allowed key are zero.
    """
    _check(q, k, v, key_padding_mask, global_mask, backend)
    if causal is not None and causal != pattern.causal:
        pattern = dataclasses.replace(pattern, causal=causal)
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    if backend == "auto":
        backend = auto_backend(pattern, q.shape[2], k.shape[2], q.is_cuda, return_lse)
    if global_mask is not None and not pattern.accepts_global_mask:
        raise ValueError(f"global_mask is only accepted by patterns with global tokens (longformer), "
                         f"not {pattern.name}")
    if global_mask is not None and (k_start or q.shape[2] != k.shape[2]):
        raise ValueError("global_mask needs full self-attention (Nq == Nk, k_start == 0)")
    if backend == "flex" and not flex_complete(q) and records_grad(q, k, v):
        raise ValueError("backend='flex' on CPU has no backward (FlexAttention); use backend='reference' "
                         "or run under torch.no_grad()")
    n_q, n_k, n_heads = q.shape[2], k.shape[2], q.shape[1]
    if backend == "dense":
        if pattern.data_dependent:
            raise ValueError(f"backend='dense' needs a static pattern; {pattern.name} routes per input")
        out = dense_attention(q, k, v, pattern, scale=scale, key_padding_mask=key_padding_mask,
                              global_mask=global_mask, k_start=k_start)
        if return_lse:
            raise ValueError("return_lse is not available with backend='dense'")
        return out
    if backend == "flex" and pattern.name == "dense" and key_padding_mask is None and not return_lse and \
            n_q == n_k and k_start == 0:  # plain dense attention: FlashAttention through SDPA
        return F.scaled_dot_product_attention(q, k, v, is_causal=pattern.causal, scale=scale)
    # the fused choice can depend on the shape: class heads, which need FlexAttention's lse
    shape = (n_q, n_k, n_heads, k_start) if flex_complete(q) else None
    if backend == "flex" and global_mask is None and P.runs_fused(pattern, shape):
        from .kernels.flex import fused_flex_attention
        out, lse = fused_flex_attention(q, k, v, pattern, scale=scale, key_padding_mask=key_padding_mask,
                                        k_start=k_start)
        if return_lse and lse is None:
            raise ValueError("return_lse with backend='flex' needs CUDA (FlexAttention returns no lse on CPU)")
        return (out, lse) if return_lse else out
    if backend == "flex" and global_mask is None and shape is not None and joined_applies(pattern, n_q, n_k, k_start):
        from .kernels.flex import joined_flex_attention
        out, lse = joined_flex_attention(q, k, v, pattern, scale=scale, key_padding_mask=key_padding_mask)
        return (out, lse) if return_lse else out
    if pattern.data_dependent:
        comps = pattern.route(q, k, k_start=k_start, **routing_state)
    elif global_mask is not None:
        pattern.validate(n_q, n_k, n_heads)
        comps = pattern.global_components(global_mask, n_heads)
    else:
        comps = pattern.components(n_q, n_k, n_heads, k_start)
    if backend == "flex":
        from .kernels.flex import flex_attention
        out, lse = flex_attention(q, k, v, comps, scale=scale, key_padding_mask=key_padding_mask, k_start=k_start)
    else:
        out, lse = reference_attention(q, k, v, comps, scale=scale, key_padding_mask=key_padding_mask,
                                       k_start=k_start)
    return (out, lse) if return_lse else out


class KVCache:
    """Keys/values seen so far for one attention layer. A pattern with a bounded look-back (a
    window) keeps only that many past keys, so a decoding step costs what the pattern allows.
    Storage grows by doubling, so appending a token does not copy the whole cache."""

    def __init__(self, lookback: int | None = None):
        self.lookback = lookback
        self._k: Tensor | None = None
        self._v: Tensor | None = None
        self._used = 0  # filled slots of the buffers
        self.k_start = 0  # absolute position of the first cached key
        self.length = 0  # positions seen

    @property
    def k(self) -> Tensor | None:
        return None if self._k is None else self._k[:, :, :self._used]

    @property
    def v(self) -> Tensor | None:
        return None if self._v is None else self._v[:, :, :self._used]

    def reorder(self, index: Tensor) -> None:
        """Keep batch rows ``index`` (beam search reorders hypotheses between steps)."""
        if self._k is not None:
            self._k, self._v = self._k.index_select(0, index), self._v.index_select(0, index)

    def _reserve(self, k: Tensor, v: Tensor, extra: int) -> None:
        need = self._used + extra
        if self._k is not None and need <= self._k.shape[2]:
            return
        cap = max(need, 2 * (0 if self._k is None else self._k.shape[2]), 16)
        new_k = k.new_empty(k.shape[:2] + (cap, k.shape[3]))
        new_v = v.new_empty(v.shape[:2] + (cap, v.shape[3]))
        if self._used:
            new_k[:, :, :self._used] = self.k
            new_v[:, :, :self._used] = self.v
        self._k, self._v = new_k, new_v

    def append(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor, int]:
        """Add new keys (B, H, n, D); return all keys the new queries may need and their start.

        The returned tensors are views valid until the next append."""
        if self.lookback is not None and self._used > self.lookback:  # the new queries look back this far
            drop = self._used - self.lookback
            kept_k, kept_v = self.k[:, :, drop:].clone(), self.v[:, :, drop:].clone()
            self._k[:, :, :self.lookback], self._v[:, :, :self.lookback] = kept_k, kept_v
            self._used = self.lookback
            self.k_start += drop
        n = k.shape[2]
        self._reserve(k, v, n)
        self._k[:, :, self._used:self._used + n] = k
        self._v[:, :, self._used:self._used + n] = v
        self._used += n
        self.length += n
        return self.k, self.v, self.k_start


def graph_attention(q: Tensor, k: Tensor, v: Tensor, graph_mask: GraphMask, *, scale: float, causal: bool,
                    kernel_options: dict | None = None, attend=flex_attention) -> Tensor:
    """What a compiled block runs in its own graph for ``graph_mask`` (SparseSelfAttention.graph_mask):
    SDPA for True (as the dispatcher runs dense attention), r class heads on the layout's class view
    for (r, BlockMask, layout), one FlexAttention call for a BlockMask, with kernels/tiles.py's tiles unless
    ``kernel_options`` says otherwise ({}: torch's own). q, k, v (B, H, N, D) -> (B, H, N, D), views of
    the projection on a GPU (FlexAttention takes any strides with a dense last dim), contiguous copies
    on the CPU or with ``ZOO_GRAPH_VIEWS=0``. ``attend`` is FlexAttention itself inside a graph; a
    compiled one outside any (tools/tune_flex_tiles.py)."""
    if graph_mask is True:
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    r, bm, layout = graph_mask if isinstance(graph_mask, tuple) else (0, graph_mask, None)
    opts = flex_tiles(q, bm.BLOCK_SIZE, kernel_options) or None
    if layout is None:  # a fused BlockMask over the whole sequence
        return attend(q, k, v, block_mask=bm, scale=scale, kernel_options=opts)
    qc, kc, vc = (to_classes(t, r, layout) for t in (q, k, v))  # (B*H, r, N/r, D) or (B, r*H, N/r, D)
    return from_classes(attend(qc, kc, vc, block_mask=bm, scale=scale, kernel_options=opts), q.shape[0], layout, r)


class _DenseGrad(torch.autograd.Function):
    """Identity whose backward hands on a dense gradient.

    A compiled block stops at the attention core (``SparseSelfAttention._core``), so q, k, v and
    the core's output cross between compiled graphs, and AOT autograd makes every incoming
    gradient contiguous (torch 2.11; newer versions re-stride it to the layout their graph
    traced). Head-transposed views on either side cost four such copies per layer, as slow
    strided kernels outside any fusion: 4.6 ms of a 16k-token LM step on the H200
    (``copies`` in benchmarks/train_h200.json, session 13). Dense tensors on both sides move that
    copy into the compiled graphs, where it fuses with a neighbour or runs as one Triton kernel.
    Opt-in (``ZOO_DENSE_BOUNDARY=1`` at construction): in the pixel step at 12,288 x 8 it cut the
    copies from 48 to 6 and the step from 91.3 to 88.9 ms, but attention inside the block's graph
    (the default, no break left) took it to 85.8 ms (session 14); it serves the layers that break."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        return grad.contiguous()


class SparseSelfAttention(nn.Module):
    """Multi-head self-attention whose pattern is a zoo pattern; projections + dispatcher.

    shared_qk=True uses Reformer's shared query/key (keys are the unit-normalised queries).
    """

    def __init__(self, dim: int, num_heads: int, pattern: P.Pattern, *, qkv_bias: bool = True,
                 proj_drop: float = 0.0, backend: str = "auto", shared_qk: bool | None = None,
                 max_len: int | None = None):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim must be divisible by num_heads ({num_heads}), got {dim}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        pattern.validate(1, 1, num_heads)
        if max_len is not None:
            pattern.validate_length(max_len)
        self.pattern, self.num_heads, self.head_dim, self.backend = pattern, num_heads, dim // num_heads, backend
        self.shared_qk = pattern.name == "lsh" if shared_qk is None else shared_qk
        self.qkv = QKVProjection(dim, dim * (2 if self.shared_qk else 3), bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        # opt-in (_DenseGrad): only where a graph break remains; H200 pixel x8 91.3 -> 88.9 ms, in-graph 85.8
        self.dense_boundary = os.environ.get("ZOO_DENSE_BOUNDARY") == "1"
        # in-graph FlexAttention on the projection's views, not contiguous copies: H200 pixel x32 step
        # 287.5 vs 308.2 ms (copy kernels 4.6 vs 21.6 ms). CPU inductor's FlexAttention template needs
        # 4-D buffers, so CPU keeps the copies; ZOO_GRAPH_VIEWS=0 keeps them everywhere
        self.graph_views = os.environ.get("ZOO_GRAPH_VIEWS") != "0"
        self.proj_drop = nn.Dropout(proj_drop)
        from .routing import make_router
        self.router = make_router(pattern, num_heads, self.head_dim)

    def new_cache(self) -> KVCache:
        if not self.pattern.causal:
            raise ValueError(f"a KV cache needs a causal pattern; {self.pattern.describe()} is bidirectional")
        return KVCache(self.pattern.lookback())

    def graph_mask(self, x: Tensor) -> GraphMask:
        """What lets a compiled block run this layer's attention inside its own graph instead of
        stopping at the dispatcher (``graph_mask`` of ``forward``): True for plain dense attention
        (SDPA), the cached BlockMask of a fused static pattern, (r, BlockMask, layout) for one
        residue-class piece (r class heads on the "batch" or "heads" class view); None where the
        dispatcher must run (routing, several pieces, no CUDA, the short masked-dense path).
        x (B, N, C): self-attention without padding, global tokens or a cache."""
        n = x.shape[1]
        if self.router is not None or not flex_complete(x) or self.backend not in ("auto", "flex"):
            return None
        if os.environ.get("ZOO_FLEX_EAGER") == "1":  # the unfused debugging path runs in the dispatcher
            return None
        if self.backend == "auto" and auto_backend(self.pattern, n, n, True) != "flex":
            return None
        if self.pattern.name == "dense":
            return True
        from .kernels.flex import class_block_mask, fused_block_mask
        from .kernels.tiles import fused_block
        if not P.runs_fused(self.pattern, (n, n, self.num_heads, 0)):
            # the class view that is free for the q, k, v forward hands over: the projection's own
            # (B, N, H, D) tensors, or contiguous copies with ZOO_GRAPH_VIEWS=0
            layout = "heads" if self.graph_views and not self.qkv.fused else "batch"
            return class_block_mask(self.pattern, n, self.num_heads, x.device, layout=layout)
        return fused_block_mask(self.pattern, n, self.num_heads, x.device,
                                fused_block(x.device, x.dtype, n, self.head_dim))

    def forward(self, x: Tensor, key_padding_mask: Tensor | None = None, global_mask: Tensor | None = None,
                cache: KVCache | None = None, graph_mask: GraphMask = None) -> Tensor:
        """x (B, N, C) -> (B, N, C). ``graph_mask`` (from ``self.graph_mask``; Transformer passes it
        to compiled blocks unless ZOO_GRAPH_ATTENTION=0) runs the attention in the caller's graph:
        no graph break, so no gradient crosses between graphs and no dispatcher runs per call."""
        B, N, C = x.shape
        if graph_mask is not None and (cache is not None or key_padding_mask is not None or global_mask is not None):
            raise ValueError("graph_mask serves self-attention without cache, key_padding_mask or global_mask")
        qkv = [t.transpose(1, 2) for t in self.qkv.split_heads(x, self.num_heads)]  # (B, H, N, D) each
        dense_boundary = self.dense_boundary and graph_mask is None and torch.compiler.is_compiling()
        flex_in_graph = graph_mask is not None and graph_mask is not True
        views = flex_in_graph and self.graph_views and flex_complete(x)  # CPU inductor needs 4-D buffers
        if dense_boundary or (flex_in_graph and not views):  # _DenseGrad; in-graph flex: the "batch" class
            qkv = [t.contiguous() for t in qkv]  # view is then free (GPU default: no copy, "heads" view)
        if self.shared_qk:
            q, v = qkv  # (B, H, N, D)
            k = F.normalize(q, dim=-1)
        else:
            q, k, v = qkv
        k_start = 0
        if cache is not None:
            if key_padding_mask is not None or global_mask is not None:
                raise ValueError("key_padding_mask/global_mask are not supported while decoding with a cache")
            k, v, k_start = cache.append(k, v)
        if graph_mask is not None:
            out = graph_attention(q, k, v, graph_mask, scale=self.head_dim ** -0.5, causal=self.pattern.causal)
        else:
            out = self._core(q, k, v, key_padding_mask, global_mask, k_start)  # (B, H, N, D)
        if dense_boundary:
            out = _DenseGrad.apply(out)
        return self.proj_drop(self.proj(out.transpose(1, 2).reshape(B, N, C)))

    @torch.compiler.disable
    def _core(self, q: Tensor, k: Tensor, v: Tensor, key_padding_mask: Tensor | None, global_mask: Tensor | None,
              k_start: int) -> Tensor:
        """Routing + dispatcher. A compiled block (``TransformerConfig.compile``) stops here: the
        dispatcher's per-(pattern, shape) caches and its own compiled kernels stay out of the graph."""
        state = self.router(q, k, key_padding_mask) if self.router is not None else {}
        return sparse_attention(q, k, v, self.pattern, key_padding_mask=key_padding_mask, global_mask=global_mask,
                                backend=self.backend, k_start=k_start, **state)  # (B, H, N, D)
