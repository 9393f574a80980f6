"""Block-table patterns: BigBird (Zaheer et al. 2020) and learned per-head layouts (distilled
from a dense teacher). Both are defined on blocks of positions; their tables travel to the
kernels as mask buffers."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar

import torch
from torch import Tensor

from .layout import Component
from .patterns import Pattern, _positive, register

@register
@dataclass(frozen=True)
class BigBird(Pattern):
    """Blocks qb = i // block, kb = j // block: window |qb - kb| <= window_blocks // 2, global
    blocks (rows and columns), and ``random_blocks`` seeded random key blocks per query block drawn
    among those not already allowed (from earlier blocks only when causal)."""

    block: int = 64
    window_blocks: int = 3
    global_blocks: int = 2
    random_blocks: int = 3
    seed: int = 0
    name: ClassVar[str] = "bigbird"
    kind: ClassVar[str] = "hybrid"
    complexity: ClassVar[str] = "O(N)"

    def __post_init__(self):
        _positive("block", self.block, 1)
        _positive("window_blocks", self.window_blocks, 1)
        _positive("global_blocks", self.global_blocks, 0)
        _positive("random_blocks", self.random_blocks, 0)

    def global_rows(self) -> int:
        return 0 if self.causal else self.global_blocks * self.block

    def global_cols(self) -> int:
        return self.global_blocks * self.block

    def block_table(self, n_blocks: int) -> Tensor:
        """Bool (n_blocks, n_blocks): which key block each query block may see."""
        return _bigbird_table(self.window_blocks, self.global_blocks, self.random_blocks, self.seed,
                              self.causal, n_blocks)

    def allowed(self, g, i, j, gq=None, gk=None):
        n_blocks = int(max(int(i.max()), int(j.max()))) // self.block + 1
        table = self.block_table(n_blocks).to(i.device)
        return self._causal(i, j, table[i // self.block, j // self.block])

    def mask_parts(self, n):
        table = self.block_table((n - 1) // self.block + 1)
        return (lambda g, i, j, t: self._causal(i, j, t[i // self.block, j // self.block])), (table,)

    def _components(self, n_q, n_k, n_heads, k_start):
        n_blocks = (k_start + n_k - 1) // self.block + 1
        table = self.block_table(n_blocks)
        q_abs = self._q_abs(n_q, n_k, k_start)
        n_g = self.global_blocks * self.block
        loc_q = q_abs[q_abs >= n_g]
        comps = []
        if len(loc_q):
            tab = table.clone()
            if self.causal:
                tab &= torch.ones_like(tab).tril()
            comps.append(Component(
                mask=lambda b, h, i, j, t: self._causal(i, j, t[i // self.block, j // self.block]), buffers=(tab,),
                q_pos=loc_q, table=tab[None], table_block=self.block,
                table_offset=(int(loc_q[0]), k_start)))
        glob_q = q_abs[q_abs < n_g]
        if len(glob_q):
            c = self._dense_component(n_q, n_k, k_start, mask=lambda b, h, i, j: self._causal(i, j, i >= 0),
                                      q_pos=glob_q)
            c.exact = True
            comps.append(c)
        return comps


@lru_cache(maxsize=64)
def _bigbird_table(window_blocks, global_blocks, random_blocks, seed, causal, n_blocks) -> Tensor:
    qb = torch.arange(n_blocks)[:, None]
    kb = torch.arange(n_blocks)[None, :]
    table = ((qb - kb).abs() <= window_blocks // 2) | (qb < global_blocks) | (kb < global_blocks)
    gen = torch.Generator().manual_seed(seed)
    for q in range(global_blocks, n_blocks):
        free = ~table[q]
        if causal:
            free &= torch.arange(n_blocks) < q
        cand = free.nonzero().flatten()
        if len(cand):
            pick = cand[torch.randperm(len(cand), generator=gen)[:random_blocks]]
            table[q, pick] = True
    return table




@register
@dataclass(frozen=True)
class Learned(Pattern):
    """A per-head block layout (distilled from a dense teacher): layout[h, qb, kb]."""

    layout: Any = None  # bool (H or 1, nQB, nKB), stored as nested tuples so the pattern hashes
    block: int = 64
    name: ClassVar[str] = "learned"
    kind: ClassVar[str] = "hybrid"
    complexity: ClassVar[str] = "O(kN)"

    def __post_init__(self):
        _positive("block", self.block, 1)
        if self.layout is None:
            raise ValueError("layout must be a bool array of shape (H or 1, n_blocks, n_blocks)")
        t = torch.as_tensor(self.layout, dtype=torch.bool)
        if t.dim() == 2:
            t = t[None]
        if t.dim() != 3:
            raise ValueError(f"layout must have shape (H, n_blocks, n_blocks), got {tuple(t.shape)}")
        object.__setattr__(self, "layout", tuple(map(tuple, t.flatten(0, 1).tolist())))
        object.__setattr__(self, "_shape", tuple(t.shape))

    def table(self) -> Tensor:
        return torch.tensor(self.layout, dtype=torch.bool).view(self._shape)

    def head_groups(self):
        return self._shape[0]

    def validate(self, n_q, n_k, n_heads=None):
        super().validate(n_q, n_k, n_heads)
        if -(-n_k // self.block) > self._shape[2]:
            raise ValueError(f"sequence length must be <= {self._shape[2] * self.block} for this layout, got {n_k}")

    def allowed(self, g, i, j, gq=None, gk=None):
        t = self.table().to(i.device)
        return self._causal(i, j, t[g, i // self.block, j // self.block])

    def mask_parts(self, n):
        return (lambda g, i, j, t: self._causal(i, j, t[g, i // self.block, j // self.block])), (self.table(),)

    def _components(self, n_q, n_k, n_heads, k_start):
        t = self.table()
        g = self.head_group_index(n_heads)
        q_abs = self._q_abs(n_q, n_k, k_start)
        tt = t[g]  # (H, nQB, nKB)
        if self.causal:
            tt = tt & torch.ones_like(tt[0]).tril()

        def mask(b, h, i, j, t):
            return self._causal(i, j, t[h, i // self.block, j // self.block])
        return [Component(mask=mask, buffers=(tt,), table=tt, table_block=self.block,
                          table_offset=(int(q_abs[0]), k_start))]
