"""Data-dependent patterns: Reformer LSH and anchor (cluster) routing.

Route -> stable sort by (bucket, position) -> attend own + previous chunk in the sorted order
(a static band, so one block layout serves every batch) -> unsort. Rounds (hashes) are separate
components merged by log-sum-exp, as in Reformer.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor

from .layout import Component
from .patterns import Pattern, _positive


@dataclass(frozen=True)
class LSH(Pattern):
    """Reformer (Kitaev et al. 2020): shared-QK angular LSH with random rotations."""

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

    def route(self, q: Tensor, k: Tensor, **state) -> list[Component]:
        raise NotImplementedError("LSH routing is being written")


@dataclass(frozen=True)
class Anchor(Pattern):
    """Anchor routing (the seed's proposal replacing LSH): anchors cluster queries/keys."""

    n_anchors: int = 64
    chunk: int = 64
    window: int = 64
    name: ClassVar[str] = "anchor"
    kind: ClassVar[str] = "global"
    complexity: ClassVar[str] = "O(N log N)"
    data_dependent: ClassVar[bool] = True

    def __post_init__(self):
        _positive("n_anchors", self.n_anchors, 1)
        _positive("chunk", self.chunk, 1)
        _positive("window", self.window, 0)

    def route(self, q: Tensor, k: Tensor, **state) -> list[Component]:
        raise NotImplementedError("anchor routing is being written")


def make_router(pattern: Pattern, num_heads: int, head_dim: int):
    """The module holding a pattern's routing state (anchors), or None when it needs none."""
    return None
