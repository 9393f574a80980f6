"""Data-dependent patterns: Reformer LSH and anchor (cluster) routing.

Route -> stable sort by (bucket, position) -> attend own + previous chunk in the sorted order
(a static band, so one block layout serves every batch) -> unsort. A component's q_pos / k_pos
are the sorted absolute positions, (B, H, N) on the input's device; its key ranges are the band
in sorted index space, (N,) on the CPU like any static pattern, and the kernels scatter the rows
back to their positions (the unsort). Papers: Reformer (Kitaev et al. 2020), Routing
Transformer (Roy et al. 2021) for the cluster routing that the anchor pattern simplifies.

Semantics, shared by both patterns. Positions are routed by their *key* (the query of a shared-QK
layer is the same vector); with N_k keys, sorted index s belongs to chunk s // chunk and attends
the keys of its own and the previous chunk (chunk 0 has no previous chunk: no wrap-around).
Chunks ignore bucket boundaries (as in Reformer's implementations). Causal masks by original
positions (j <= i). When there are fewer queries than keys (a cache), the queries are the last
N_q positions and the other sorted slots are padding (-1). Routing never sees key_padding_mask:
padded keys are sorted like the others and masked out by the kernels.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

import torch
from torch import Tensor

from .anchors import AnchorRouter, assign, nearest, route_dtype, spherical_kmeans, unit
from .kernels import argmax_proj
from .kernels.gather import plumbing
from .layout import Component, SortedBand
from .patterns import Pattern, SlidingWindow, _positive

SELF_MASK_BIAS = -1e5  # Reformer's self-mask score (trax, Hugging Face fp32): self only when alone


@lru_cache(maxsize=128)
def _chunk_band(n: int, chunk: int) -> tuple[Tensor, Tensor, dict]:
    """Own + previous chunk in sorted index space: inclusive (lo, hi) per sorted slot, (n,) each.

    Also returns one block cache shared by every component of this band: the candidate blocks
    depend only on the ranges and shapes (per-input positions never get a cached BlockMask)."""
    c = torch.arange(n) // chunk
    lo = (c - 1).clamp(min=0) * chunk
    hi = (c * chunk + chunk - 1).clamp(max=n - 1)
    return lo, hi, {}


def _sorted_positions(groups: Tensor, n_q: int, k_start: int, chunk: int) -> tuple[Tensor, ...]:
    """groups (…, B, H, N_k) bucket/cluster ids -> the key index at each sorted slot (``order``) and
    the slot of each key index (``rank``), (q_pos, k_pos) sorted by (group, position), and the chunk
    of every key position (…, B, H, N_k each), indexed by position - k_start."""
    n_k = groups.shape[-1]
    order = torch.argsort(groups, dim=-1, stable=True)
    rank = torch.empty_like(order).scatter_(-1, order, torch.arange(n_k, device=order.device).expand_as(order))
    k_pos = order + k_start
    q_pos = k_pos
    if n_q < n_k:
        q_pos = torch.where(k_pos >= k_start + n_k - n_q, k_pos, -1)
    return order, rank, q_pos, k_pos, rank // chunk


def _chunk_mask(chunk_of: Tensor, k_start: int, causal: bool, left: int = -1, right: int = -1):
    """mask(b, h, i, j) on absolute positions: key j lies in query i's own or previous chunk,
    j <= i when causal, and (left >= 0) outside the window -right <= i - j <= left.

    The kernels take the ranges only as candidate blocks; this mask is the token-level truth.
    One flat closure over tensors and ints (no calls into other closures), so FlexAttention's
    compiled mask_mod sees every captured tensor directly."""
    def mask(b, h, i, j):
        d = chunk_of[b, h, (i - k_start).clamp(min=0)] - chunk_of[b, h, (j - k_start).clamp(min=0)]
        ok = (d == 0) | (d == 1)
        if causal:
            ok = ok & (j <= i)
        if left >= 0:
            ok = ok & ((i - j > left) | (j - i > right))
        return ok
    return mask


def _no_state(name: str, state: dict) -> None:
    if state:
        raise ValueError(f"{name} takes no routing state, got {sorted(state)}")


@lru_cache(maxsize=32)
def _rotations_cpu(seed: int, n_heads: int, dim: int, n_hashes: int, half: int) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n_heads, dim, n_hashes, half, generator=g)


def lsh_rotations(seed: int, n_heads: int, dim: int, n_hashes: int, n_buckets: int,
                  device=None, dtype=torch.float32) -> Tensor:
    """Random rotations (H, D, n_hashes, n_buckets / 2): ``torch.randn`` of that shape (fp32) from
    ``torch.Generator().manual_seed(seed)`` on the CPU, then moved (reproducible on any device)."""
    return _rotations_cpu(seed, n_heads, dim, n_hashes, n_buckets // 2).to(device=device, dtype=dtype)


@lru_cache(maxsize=32)
def _rotations_on(seed: int, n_heads: int, dim: int, n_hashes: int, n_buckets: int, device, dtype) -> Tensor:
    """lsh_rotations flattened to (H, D, n_hashes * n_buckets / 2), kept on the device: a copy from
    pageable host memory per call would make the host wait for the GPU's queue."""
    return lsh_rotations(seed, n_heads, dim, n_hashes, n_buckets, device, dtype).flatten(2)


def _hash(k: Tensor, rot: Tensor, rounds: int) -> Tensor:
    """k (B, H, N, D), rot (H, D, rounds * nb/2) -> bucket ids argmax([k R, -k R]) per round, int64
    (rounds, B, H, N), computed in rot's dtype without building [k R, -k R] (nb/2 x the keys' size:
    8.6 GB at 65,536 x 16 heads): the first half wins ties, as argmax's first index does."""
    xr = torch.einsum("bhnd,hdr->bhnr", k.to(rot.dtype), rot).unflatten(-1, (rounds, -1))  # (B, H, N, R, nb/2)
    hi, hi_at = xr.max(-1)
    lo, lo_at = xr.min(-1)
    return torch.where(hi >= -lo, hi_at, lo_at + xr.shape[-1]).permute(3, 0, 1, 2)


@dataclass(frozen=True)
class LSH(Pattern):
    """Reformer (Kitaev et al. 2020): shared-QK angular LSH with random rotations.

    n_buckets = max(2, ceil(N / bucket_size) rounded up to even). Per round r, bucket(x) =
    argmax([x R_r, -x R_r]) of the key; sort by (bucket, position); chunks of ``chunk`` attend
    their own and the previous chunk. A query never attends itself unless it is alone: the
    kernels mask self out and give a row with no other allowed key (the first causal token)
    v_self, exactly what Reformer's -1e5 self score (``SELF_MASK_BIAS``) means, without that
    bias's fp32 rounding (kernels.gather.fill_alone). Rounds are separate components merged by log-sum-exp:
    out = sum_r exp(lse_r - logsumexp_r lse_r) out_r, Reformer's combination (trax, Hugging Face).
    A key that shares a chunk with the query in several rounds is counted once per round (no
    duplicate-count correction; the paper's appendix mentions one, its implementations do not).
    Rotations are fixed by ``seed`` (Reformer redraws them every step), so results reproduce.
    """

    bucket_size: int = 64
    n_hashes: int = 2
    chunk: int = 64
    seed: int = 0
    name: ClassVar[str] = "lsh"
    kind: ClassVar[str] = "global"
    complexity: ClassVar[str] = "O(N log N)"
    data_dependent: ClassVar[bool] = True

    def __post_init__(self):
        _positive("bucket_size", self.bucket_size, 1)
        _positive("n_hashes", self.n_hashes, 1)
        _positive("chunk", self.chunk, 1)
        _positive("seed", self.seed, 0)

    def n_buckets(self, n: int) -> int:
        nb = -(-n // self.bucket_size)
        return max(2, nb + nb % 2)

    def buckets(self, k: Tensor) -> Tensor:
        """Bucket of every key per round: (n_hashes, B, H, N) on k's device (int32 from the fused kernel,
        int64 from torch)."""
        B, H, N, D = k.shape
        nb = self.n_buckets(N)
        rot = _rotations_on(self.seed, H, D, self.n_hashes, nb, k.device, route_dtype(k))  # (H, D, rounds * nb/2)
        if argmax_proj.enabled(k):
            return argmax_proj.argmax_proj(k, rot, self.n_hashes, signed=True)
        # elsewhere one graph on the GPU: eager max and min read the projections twice at ~0.9 TB/s (H200, 16k x 64
        # sequences: 2.3 of the 4.0 ms hashing); sized by the projections
        fn = plumbing(_hash, k.is_cuda, B * H * N * self.n_hashes * (nb // 2))
        return fn(k.detach(), rot, self.n_hashes)

    def route(self, q: Tensor, k: Tensor, k_start: int = 0, **state) -> list[Component]:
        _no_state(self.name, state)
        n_q, n_k, n_heads = q.shape[2], k.shape[2], q.shape[1]
        self.validate(n_q, n_k, n_heads)
        order, rank, q_pos, k_pos, chunk_of = _sorted_positions(self.buckets(k), n_q, k_start, self.chunk)
        lo, hi, cache = _chunk_band(n_k, self.chunk)
        return [Component(mask=_chunk_mask(chunk_of[r], k_start, self.causal), q_pos=q_pos[r], k_pos=k_pos[r],
                          ranges=(lo, hi), exact=not self.causal, diag_bias=SELF_MASK_BIAS,
                          band=SortedBand(order[r], rank[r], self.chunk, self.causal), _cache=cache)
                for r in range(self.n_hashes)]


@dataclass(frozen=True)
class Anchor(Pattern):
    """Anchor routing (the seed's proposal replacing LSH): anchors cluster the keys.

    Each position goes to its nearest anchor (cosine, of its key; with shared QK that is also its
    query); sort by (cluster, position); balanced chunks of ``chunk`` attend their own and the
    previous chunk; plus a local window in original order: j in [i - window + 1, i] when causal,
    |i - j| <= window // 2 otherwise (window = 0: none). The two pieces are disjoint (the cluster
    piece drops the pairs the window covers), so the result is one softmax over their union.
    Self-attention is allowed (the window holds it). Anchors (H, A, D) come from the layer's
    ``AnchorRouter`` (EMA k-means, or ``learned`` by gradient through its auxiliary loss);
    a call with no routing state runs ``kmeans_iters`` seeded k-means steps on each example's
    keys instead. Causal note: as in Reformer, which past keys a query sees can depend on later
    tokens (they shift chunk boundaries, and per-call k-means sees them).
    """

    n_anchors: int = 64
    chunk: int = 64
    window: int = 64
    decay: float = 0.99
    learned: bool = False
    seed: int = 0
    kmeans_iters: int = 4
    name: ClassVar[str] = "anchor"
    kind: ClassVar[str] = "global"
    complexity: ClassVar[str] = "O(N log N)"
    data_dependent: ClassVar[bool] = True

    def __post_init__(self):
        _positive("n_anchors", self.n_anchors, 1)
        _positive("chunk", self.chunk, 1)
        _positive("window", self.window, 0)
        _positive("seed", self.seed, 0)
        _positive("kmeans_iters", self.kmeans_iters, 0)
        if isinstance(self.decay, bool) or not isinstance(self.decay, (int, float)) or not 0 <= self.decay < 1:
            raise ValueError(f"decay must be a number in [0, 1), got {self.decay!r}")
        if not isinstance(self.learned, bool):
            raise ValueError(f"learned must be True or False, got {self.learned!r}")

    def window_sides(self) -> tuple[int, int]:
        """(left, right) of the local window in original order."""
        return (self.window - 1, 0) if self.causal else (self.window // 2, self.window // 2)

    def clusters(self, k: Tensor, anchors: Tensor | None = None) -> Tensor:
        """Cluster of every key (B, H, N): nearest given anchor, else per-example seeded k-means."""
        B, H, N, D = k.shape
        if anchors is None:
            x = unit(k)
            return assign(x, spherical_kmeans(x, self.n_anchors, self.kmeans_iters, self.seed))  # (B, H, A, D) anchors
        if anchors.shape[-3:] != (H, self.n_anchors, D) or anchors.dim() not in (3, 4) or \
                (anchors.dim() == 4 and anchors.shape[0] != B):
            raise ValueError(f"anchors must have shape (H, n_anchors, D) = ({H}, {self.n_anchors}, {D}) "
                             f"or (B, H, n_anchors, D), got {tuple(anchors.shape)}")
        return nearest(k, anchors)

    def route(self, q: Tensor, k: Tensor, k_start: int = 0, anchors: Tensor | None = None,
              clusters: Tensor | None = None, **state) -> list[Component]:
        _no_state(self.name, state)
        B, n_heads, n_k, _ = k.shape
        n_q = q.shape[2]
        self.validate(n_q, n_k, n_heads)
        if clusters is None:
            clusters = self.clusters(k, anchors)
        elif tuple(clusters.shape) != (B, n_heads, n_k):
            raise ValueError(f"clusters must have shape (B, H, N_k) = {(B, n_heads, n_k)}, got {tuple(clusters.shape)}")
        order, rank, q_pos, k_pos, chunk_of = _sorted_positions(clusters, n_q, k_start, self.chunk)
        lo, hi, cache = _chunk_band(n_k, self.chunk)
        left, right = self.window_sides() if self.window > 0 else (-1, -1)
        mask = _chunk_mask(chunk_of, k_start, self.causal, left, right)
        comps = [Component(mask=mask, q_pos=q_pos, k_pos=k_pos, ranges=(lo, hi),
                           band=SortedBand(order, rank, self.chunk, self.causal, left, right), _cache=cache)]
        if self.window > 0:
            comps += _window(left, right, self.causal, n_q, n_k, n_heads, k_start)
        return comps


@lru_cache(maxsize=64)
def _window(left: int, right: int, causal: bool, n_q: int, n_k: int, n_heads: int, k_start: int) -> list[Component]:
    """Anchor's local window as a component that FlexAttention on the GPU runs as the sliding-window
    pattern's own fused BlockMask (its block size, the band as index arithmetic) rather than on the
    generic component path (128-token blocks, positions read from tables)."""
    win = SlidingWindow(left=left, right=right, causal=causal)
    return [dataclasses.replace(c, fused=win, _cache={}) for c in win.components(n_q, n_k, n_heads, k_start)]


def make_router(pattern: Pattern, num_heads: int, head_dim: int):
    """The module holding a pattern's routing state (anchors), or None when it needs none."""
    if isinstance(pattern, Anchor):
        return AnchorRouter(num_heads, head_dim, pattern.n_anchors, decay=pattern.decay,
                            learned=pattern.learned, seed=pattern.seed, kmeans_iters=pattern.kmeans_iters)
    return None
