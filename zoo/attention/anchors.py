"""Anchor points for cluster routing: spherical k-means, cosine assignment, EMA updates.

The anchor pattern (routing.py) sorts positions by their nearest anchor. Anchors are unit vectors
per head, (H, A, D). ``AnchorRouter`` keeps them as module state and updates them like an
EMA k-means codebook (VQ-VAE, van den Oord et al. 2017; Routing Transformer, Roy et al. 2021):
assign with the current anchors, then pull each used anchor towards the mean of its keys.
Everything here is vectorised over batch and heads; only k-means iterations loop.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .kernels import argmax_proj


def route_dtype(x: Tensor) -> torch.dtype:
    """Routing arithmetic runs in fp64 for fp64 inputs (tests), else fp32 (never half)."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def unit(x: Tensor) -> Tensor:
    """Detached, unit-normalised vectors in the routing dtype."""
    return F.normalize(x.detach().to(route_dtype(x)), dim=-1)


def assign(x_unit: Tensor, anchors: Tensor) -> Tensor:
    """Nearest anchor by cosine: x (B, H, N, D) unit, anchors (H, A, D) or (B, H, A, D) -> (B, H, N)."""
    a = F.normalize(anchors.detach().to(x_unit.dtype), dim=-1)
    if a.dim() == 3:
        a = a[None]
    return torch.einsum("bhnd,bhad->bhna", x_unit, a).argmax(-1)


def nearest(k: Tensor, anchors: Tensor) -> Tensor:
    """Nearest anchor of raw keys k (B, H, N, D) -> (B, H, N) = assign(unit(k), anchors) (int32 from the
    kernel, int64 from torch). The key's norm does not change its argmax, so on the GPU the fused
    kernel takes k as it is (no unit keys, no (B, H, N, A) scores in memory)."""
    if not argmax_proj.enabled(k):
        return assign(unit(k), anchors)
    a = F.normalize(anchors.detach().float(), dim=-1).transpose(-1, -2)  # (B|., H, D, A)
    return argmax_proj.argmax_proj(k, a, 1, signed=False)[0]


def _dist_world() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized() \
        and torch.distributed.get_world_size() > 1


def _cluster_sums(x: Tensor, ids: Tensor, w: Tensor, n: int) -> tuple[Tensor, Tensor]:
    """Per-cluster sums of x (G, H, M, D) and weights w (G, H, M) -> (G, H, A, D), (G, H, A)."""
    G, H, M, D = x.shape
    ids = ids.long()  # the fused assignment gives int32
    sums = x.new_zeros(G, H, n, D).scatter_add_(2, ids[..., None].expand(G, H, M, D), x * w[..., None])
    counts = w.new_zeros(G, H, n).scatter_add_(2, ids, w)
    return sums, counts


def spherical_kmeans(x: Tensor, n: int, iters: int, seed: int, weight: Tensor | None = None) -> Tensor:
    """Seeded spherical k-means on unit vectors x (G, H, M, D) -> anchors (G, H, n, D).

    Initial anchors are n distinct points picked by one seeded permutation of the M slots (weight
    0 slots last, so padding is never picked while real points remain); then ``iters`` rounds of
    assign / normalised mean. A cluster that empties keeps its previous anchor.
    """
    G, H, M, D = x.shape
    w = x.new_ones(G, H, M) if weight is None else weight.to(x.dtype).expand(G, H, M)
    perm_rank = torch.empty(M, dtype=torch.int64)
    perm_rank[torch.randperm(M, generator=torch.Generator().manual_seed(seed))] = torch.arange(M)
    priority = perm_rank.to(x.device) + M * (w <= 0).to(torch.int64)  # (G, H, M)
    picks = torch.argsort(priority, dim=-1)[..., torch.arange(n, device=x.device) % M]  # (G, H, n)
    anchors = torch.gather(x, 2, picks[..., None].expand(G, H, n, D))
    for _ in range(iters):
        ids = torch.einsum("ghmd,ghad->ghma", x, anchors).argmax(-1)
        sums, counts = _cluster_sums(x, ids, w, n)
        anchors = torch.where(counts[..., None] > 0, F.normalize(sums, dim=-1), anchors)
    return anchors


@torch.no_grad()
def ema_update(anchors: Tensor, x_unit: Tensor, clusters: Tensor, decay: float,
               key_padding_mask: Tensor | None = None) -> Tensor:
    """In place: a_c <- normalize(decay * a_c + (1 - decay) * mean of the unit keys assigned to c),
    for every anchor that got a key (pooled over the batch, and over ranks under torch.distributed).
    anchors (H, A, D); x_unit (B, H, N, D); clusters (B, H, N); key_padding_mask (B, N), True = real.
    Returns the per-anchor key counts (H, A)."""
    H, A, D = anchors.shape
    B, _, N, _ = x_unit.shape
    w = x_unit.new_ones(B, H, N) if key_padding_mask is None else \
        key_padding_mask[:, None, :].to(x_unit.dtype).expand(B, H, N)
    # pool the batch: one group per head
    flat = lambda t: t.transpose(0, 1).reshape(1, H, B * N, *t.shape[3:])  # noqa: E731
    sums, counts = _cluster_sums(flat(x_unit), flat(clusters), flat(w), A)
    sums, counts = sums[0], counts[0]
    if _dist_world():  # every rank ends with the same anchors
        torch.distributed.all_reduce(sums)
        torch.distributed.all_reduce(counts)
    mean = sums / counts.clamp(min=1)[..., None]
    a = anchors.to(mean.dtype)
    new = F.normalize(decay * a + (1 - decay) * mean, dim=-1)
    anchors.copy_(torch.where(counts[..., None] > 0, new, a).to(anchors.dtype))
    return counts


class AnchorRouter(nn.Module):
    """Routing state of one anchor-attention layer: anchors (H, A, D), unit vectors.

    Called as ``router(q, k[, key_padding_mask])`` before attention; returns the routing state
    (``{"clusters": (B, H, N)}``) that ``Anchor.route`` consumes. Assignment uses the anchors as
    they were before this step's update.

    - EMA (default): anchors are a buffer; in train mode each call updates them by EMA k-means
      under no_grad (``decay``); eval mode never changes them.
    - ``learned=True``: anchors are an ``nn.Parameter``. Hard assignment passes no gradient, so
      in train mode the router sets ``self.aux_loss`` = mean(1 - cos(key, its anchor)) with the
      keys detached (a k-means objective that moves only the anchors); the training loop must add
      it to the loss (``routing_aux_loss(model)`` sums them). No commitment term pulls the keys.
    - Initialisation: a seeded random unit matrix until the first train-mode call, which replaces
      it by seeded k-means on that batch's keys (broadcast from rank 0 under torch.distributed).
      An uninitialised router in eval mode returns ``{}``, so the pattern falls back to per-call
      k-means on the current keys, exactly like a functional ``sparse_attention`` call.
    """

    def __init__(self, num_heads: int, head_dim: int, n_anchors: int, *, decay: float = 0.99,
                 learned: bool = False, seed: int = 0, kmeans_iters: int = 4):
        super().__init__()
        self.decay, self.learned, self.seed, self.kmeans_iters = decay, learned, seed, kmeans_iters
        init = torch.randn(num_heads, n_anchors, head_dim, generator=torch.Generator().manual_seed(seed))
        init = F.normalize(init, dim=-1)
        if learned:
            self.anchors = nn.Parameter(init)
        else:
            self.register_buffer("anchors", init)
        self.register_buffer("initialized", torch.tensor(False))
        self._ready = False  # python mirror of `initialized`: no device sync per step
        self.aux_loss: Tensor | None = None

    def extra_repr(self) -> str:
        h, a, d = self.anchors.shape
        return f"heads={h}, anchors={a}, head_dim={d}, decay={self.decay}, learned={self.learned}"

    def _load_from_state_dict(self, *args, **kwargs):
        super()._load_from_state_dict(*args, **kwargs)
        self._ready = False

    def _is_ready(self) -> bool:
        if not self._ready:
            self._ready = bool(self.initialized)
        return self._ready

    @torch.no_grad()
    def _init_from(self, x: Tensor, key_padding_mask: Tensor | None) -> None:
        B, H, N, D = x.shape
        w = None if key_padding_mask is None else \
            key_padding_mask[:, None, :].expand(B, H, N).transpose(0, 1).reshape(1, H, B * N)
        pooled = x.transpose(0, 1).reshape(1, H, B * N, D)
        init = spherical_kmeans(pooled, self.anchors.shape[1], self.kmeans_iters, self.seed, w)[0]
        if _dist_world():
            torch.distributed.broadcast(init, 0)
        self.anchors.data.copy_(init.to(self.anchors.dtype))
        self.initialized.fill_(True)
        self._ready = True

    def forward(self, q: Tensor, k: Tensor, key_padding_mask: Tensor | None = None) -> dict:
        H, A, D = self.anchors.shape
        if k.shape[1] != H or k.shape[-1] != D:
            raise ValueError(f"keys must have {H} heads and head_dim {D} for this router, got {tuple(k.shape)}")
        self.aux_loss = None
        if not self._is_ready():
            if not self.training:
                return {}
            self._init_from(unit(k), key_padding_mask)
        if self.learned:
            x = unit(k)  # (B, H, N, D)
            a = F.normalize(self.anchors.to(x.dtype), dim=-1)
            sims = torch.einsum("bhnd,had->bhna", x, a)  # grad reaches the anchors only
            clusters = sims.detach().argmax(-1)
            if self.training:
                best = 1 - sims.gather(-1, clusters[..., None])[..., 0]  # (B, H, N)
                if key_padding_mask is not None:
                    w = key_padding_mask[:, None, :].to(best.dtype)
                    self.aux_loss = (best * w).sum() / (w.sum() * H).clamp(min=1)
                else:
                    self.aux_loss = best.mean()
            return {"clusters": clusters}
        clusters = nearest(k, self.anchors)
        if self.training:
            ema_update(self.anchors, unit(k), clusters, self.decay, key_padding_mask)
        return {"clusters": clusters}


def routing_aux_loss(model: nn.Module) -> Tensor | float:
    """Sum of the auxiliary losses that learned anchor routers set on their last train-mode call."""
    losses = [m.aux_loss for m in model.modules() if isinstance(m, AnchorRouter) and m.aux_loss is not None]
    return sum(losses) if losses else 0.0
