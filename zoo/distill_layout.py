"""Attention maps out of a model, attention-map distillation, and learned block layouts.

The survey's proposal 4.2: read a dense teacher's attention on a calibration set and keep, per
layer, head and query block, the fewest key blocks that cover a target share of the attention
mass under a budget; the student then runs that static ``learned`` layout (no per-input work).

The core's ``SparseSelfAttention`` does not return its probabilities, so ``AttentionTap`` gets
them from outside: a forward hook recomputes q and k from the module's own ``qkv`` projection
(rotary included: the block has already set the offset) and stores them with the pattern's
token mask. Cost is O(N^2) per head (or O(R N) for R sampled query rows): small N only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .attention import SparseSelfAttention, build
from .attention.flops import count_pairs


@dataclass
class Tap:
    """One layer's attention inputs: q (B, H, R, D) for the sampled rows, k (B, H, N, D),
    allowed (H|1, R, N) bool (the layer's pattern), kpm (B, N) bool or None, rows (R,)."""

    q: Tensor
    k: Tensor
    allowed: Tensor
    kpm: Tensor | None
    rows: Tensor

    def scores(self) -> Tensor:  # (B, H, R, N), -inf where not allowed
        s = torch.einsum("bhrd,bhnd->bhrn", self.q.float(), self.k.float()) / math.sqrt(self.q.shape[-1])
        ok = self.allowed[None]
        if self.kpm is not None:
            ok = ok & self.kpm[:, None, None, :]
        return s.masked_fill(~ok, float("-inf"))

    def probs(self) -> Tensor:
        s = self.scores()
        dead = torch.isinf(s).all(-1, keepdim=True)  # rows with no allowed key are zero, never NaN
        return torch.where(dead, 0.0, torch.softmax(s.masked_fill(dead, 0.0), -1))


def attention_modules(model: nn.Module) -> list[SparseSelfAttention]:
    mods = [m for m in model.modules() if isinstance(m, SparseSelfAttention)]
    if not mods:
        raise ValueError("model has no SparseSelfAttention layers")
    return mods


@lru_cache(maxsize=64)
def _token_mask(pattern, n: int, n_heads: int) -> Tensor:
    return pattern.token_mask(n, n, n_heads)


class AttentionTap:
    """``with AttentionTap(model, rows) as tap: model(**batch)`` -> ``tap.taps``, one per layer.

    ``rows``: query positions to keep (LongTensor), or None for all. Under grad the recomputed q/k
    carry gradients into the model's projections (attention-map distillation)."""

    def __init__(self, model: nn.Module, rows: Tensor | None = None):
        self.modules = attention_modules(model)
        self.rows = rows
        self.taps: list[Tap] = []
        self._handles: list = []

    @staticmethod
    def _mask(m: SparseSelfAttention, n: int) -> Tensor:
        if m.pattern.data_dependent:
            raise ValueError(f"attention maps need a static pattern; {m.pattern.name} routes per input")
        return _token_mask(m.pattern, n, m.num_heads)

    def _hook(self, m: SparseSelfAttention, args, kwargs, output) -> None:
        x = args[0]
        N = x.shape[1]
        if kwargs.get("cache") is not None:
            raise ValueError("AttentionTap does not support decoding with a KV cache")
        parts = [t.transpose(1, 2) for t in m.qkv.split_heads(x, m.num_heads)]  # as the module computes them
        q = parts[0]
        k = F.normalize(q, dim=-1) if m.shared_qk else parts[1]  # (B, H, N, D)
        rows = torch.arange(N, device=x.device) if self.rows is None else self.rows.to(x.device)
        allowed = self._mask(m, N).to(x.device)[:, rows.cpu()]
        kpm = kwargs.get("key_padding_mask")
        self.taps.append(Tap(q[:, :, rows], k, allowed, None if kpm is None else kpm.bool(), rows))

    def __enter__(self) -> "AttentionTap":
        self.taps = []
        self._handles = [m.register_forward_hook(self._hook, with_kwargs=True) for m in self.modules]
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []


# ------------------------------------------------------------------------------------------------
def attention_kd_loss(student: list[Tap], teacher: list[Tap]) -> Tensor:
    """Mean over layers of KL(teacher' || student) per (example, head, query row), where teacher'
    is the teacher's attention restricted to the student's allowed keys and renormalised: the
    only part of the teacher's map a sparse student can reproduce."""
    if len(student) != len(teacher):
        raise ValueError(f"student has {len(student)} attention layers, teacher {len(teacher)}")
    losses = []
    for s, t in zip(student, teacher):
        if s.q.shape[:3] != t.q.shape[:3]:
            raise ValueError(f"teacher/student attention shapes differ: {tuple(t.q.shape)} vs {tuple(s.q.shape)}")
        B, H, R, _ = s.q.shape
        ok = s.allowed[None].expand(B, H, R, s.k.shape[2])  # (B, H, R, N)
        if s.kpm is not None:
            ok = ok & s.kpm[:, None, None, :]
        ls = s.scores()
        lt = t.scores().detach().masked_fill(~ok, float("-inf"))
        valid = ~(torch.isinf(lt).all(-1) | torch.isinf(ls).all(-1))  # (B, H, R)
        ls = torch.log_softmax(ls.masked_fill(~valid[..., None], 0.0), -1)
        lt = torch.log_softmax(lt.masked_fill(~valid[..., None], 0.0), -1)
        pt = lt.exp()
        kl = torch.where(ok & (pt > 0), pt * (lt - ls), 0.0).sum(-1)  # (B, H, R)
        losses.append((kl * valid).sum() / valid.sum().clamp(min=1))
    return torch.stack(losses).mean()


@torch.no_grad()
def mean_attention_maps(model: nn.Module, batches) -> list[Tensor]:
    """Per layer, the attention probabilities averaged over every example: (H, N, N) each."""
    was = model.training
    model.eval()
    sums, count = None, 0
    try:
        for batch in batches:
            with AttentionTap(model) as tap:
                model(**batch)
            maps = [t.probs().sum(0) for t in tap.taps]  # (H, N, N)
            sums = maps if sums is None else [a + b for a, b in zip(sums, maps)]
            count += tap.taps[0].q.shape[0]
    finally:
        model.train(was)
    if sums is None:
        raise ValueError("no calibration batches")
    return [s / count for s in sums]


# ------------------------------------------------------------------------------------------------
def block_mass(probs: Tensor, block: int) -> Tensor:
    """(H, N, N) row-stochastic attention -> (H, nB, nB): the mean share of a query block's
    attention that lands in each key block (rows sum to 1 where queries attend at all)."""
    H, n, m = probs.shape
    nb_q, nb_k = -(-n // block), -(-m // block)
    p = F.pad(probs, (0, nb_k * block - m, 0, nb_q * block - n))
    sums = p.view(H, nb_q, block, nb_k, block).sum((2, 4))  # (H, nQB, nKB)
    rows = torch.full((nb_q,), float(block))
    rows[-1] = n - (nb_q - 1) * block
    return sums / rows[:, None].to(sums)


def extract_layout(mass: Tensor, coverage: float = 0.9, budget: int | None = None,
                   causal: bool = False) -> Tensor:
    """Block layout (H, nQB, nKB) bool from block masses (H, nQB, nKB).

    Per head and query block: the diagonal block, then key blocks by decreasing mass until the
    kept blocks hold ``coverage`` of the row's mass, at most ``budget`` blocks in all (None: no
    cap). Causal: only key blocks at or before the query block are eligible. Ties go to the
    lower key block (stable sort), so the result is deterministic."""
    if not 0 < coverage <= 1:
        raise ValueError(f"coverage must be in (0, 1], got {coverage}")
    H, nq, nk = mass.shape
    qb = torch.arange(nq)[:, None]
    kb = torch.arange(nk)[None, :]
    eligible = (kb <= qb) if causal else torch.ones(nq, nk, dtype=torch.bool)
    diag = (kb == qb).expand(nq, nk)
    m = mass.double().clamp(min=0) * eligible
    key = torch.where(eligible, m + 2.0 * diag, -1.0)  # diagonal first, ineligible last
    order = torch.sort(key, dim=-1, descending=True, stable=True).indices
    sorted_mass = torch.gather(m, -1, order)
    csum = sorted_mass.cumsum(-1)
    total = m.sum(-1, keepdim=True)
    need = (csum < coverage * total - 1e-9).sum(-1) + 1  # blocks until the share is reached
    need = torch.minimum(need, eligible.sum(-1).expand_as(need))
    if budget is not None:
        if budget < 1:
            raise ValueError(f"budget must be >= 1 block per row, got {budget}")
        need = need.clamp(max=budget)
    keep_sorted = torch.arange(nk)[None, None, :] < need[..., None]
    layout = torch.zeros(H, nq, nk, dtype=torch.bool).scatter(-1, order, keep_sorted)
    return layout & eligible


def layout_pairs(layouts: list[Tensor], block: int, n: int, causal: bool) -> int:
    """Allowed (query, key) pairs summed over layers and heads (count_pairs of each layer)."""
    return sum(count_pairs(learned_pattern(lay, block, causal), n, lay.shape[0]) for lay in layouts)


def learned_pattern(layout: Tensor, block: int, causal: bool):
    return build("learned", causal=causal, layout=layout.bool().tolist(), block=block)


def layouts_from_maps(maps: list[Tensor], block: int, coverage: float, budget: int | None,
                      causal: bool) -> list[Tensor]:
    return [extract_layout(block_mass(p, block), coverage, budget, causal) for p in maps]


def apply_layouts(model: nn.Module, layouts: list[Tensor], block: int, causal: bool) -> None:
    """Give each attention layer its own ``learned`` pattern (in place). The config keeps the
    union of the layers' layouts (valid for every layer); per-layer layouts travel in the
    checkpoint metadata (see zoo.distill.save_student)."""
    mods = attention_modules(model)
    if len(mods) != len(layouts):
        raise ValueError(f"model has {len(mods)} attention layers, got {len(layouts)} layouts")
    for m, lay in zip(mods, layouts):
        p = learned_pattern(lay, block, causal)
        p.validate(1, 1, m.num_heads)
        m.pattern, m.router = p, None
    cfg = getattr(model, "config", None)
    if cfg is not None:
        union = torch.stack([lay.bool() for lay in layouts]).any(0)
        cfg.pattern, cfg.schedule, cfg.schedule_params = "learned", "same", {}
        cfg.pattern_params = {"block": block, "layout": union.int().tolist()}


def coverage_of(maps: list[Tensor], layouts: list[Tensor], block: int) -> float:
    """Mean share of the teacher's attention mass (per query, averaged) inside the layouts."""
    shares = []
    for p, lay in zip(maps, layouts):
        H, n, _ = p.shape
        idx = torch.arange(n) // block
        tok = lay[:, idx][:, :, idx]  # (H, N, N)
        shares.append(float((p * tok).sum(-1).mean()))
    return sum(shares) / len(shares)
