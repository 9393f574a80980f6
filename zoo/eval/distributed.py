"""Multi-process evaluation: every rank scores its own samples, rank 0 merges them once.

Under ``deepspeed`` / ``torchrun`` each rank reads a different part of the split (the data
pipeline's node splitter, or ``shard()`` here); shard counts may be uneven, so evaluation loops
contain *no* collective call — a rank that runs out of data early would otherwise wait forever
for the others. The only collective is one ``gather_object`` at the end, after every rank has
finished. Per-sample records keyed by sample id are merged on rank 0, which checks that no
sample was scored twice; corpus-level metrics (CIDEr-D's IDF, VQA breakdowns) are computed only
from the merged records, never averaged over ranks.
"""
from __future__ import annotations

import os
from collections.abc import Hashable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) of the initialised process group, or (0, 1)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_from_env() -> tuple[int, int]:
    """Join the process group a launcher (deepspeed, torchrun) described in the environment.

    NCCL when this rank has a GPU, gloo otherwise. A no-op for a single process.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and dist.is_available() and not dist.is_initialized():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if torch.cuda.is_available():
            torch.cuda.set_device(local)  # gather_object on NCCL uses the current device
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return rank_and_world()


def shard(items: Iterable[T], rank: int, world_size: int) -> Iterator[T]:
    """Every ``world_size``-th item starting at ``rank``: disjoint and covering across ranks."""
    for i, item in enumerate(items):
        if i % world_size == rank:
            yield item


def gather_to_rank0(obj: Any) -> list | None:
    """Every rank's ``obj`` as a list on rank 0 (None elsewhere); one collective call."""
    rank, world = rank_and_world()
    if world == 1:
        return [obj]
    parts: list | None = [None] * world if rank == 0 else None
    dist.gather_object(obj, parts, dst=0)
    return parts


def gather_records(records: Mapping[Hashable, Any]) -> dict[Hashable, Any] | None:
    """Merge per-sample records from all ranks onto rank 0 (others get None).

    Raises on rank 0 when two ranks scored the same sample id.
    """
    parts = gather_to_rank0(dict(records))
    return merge_records(parts) if parts is not None else None


def merge_records(parts: Iterable[Mapping[Hashable, Any]]) -> dict[Hashable, Any]:
    """Union of per-rank records; a sample id present in two parts is an error."""
    merged: dict[Hashable, Any] = {}
    for i, part in enumerate(parts):
        dup = merged.keys() & part.keys()
        if dup:
            raise ValueError(
                f"{len(dup)} samples were scored by more than one rank (e.g. "
                f"{sorted(map(str, dup))[:5]}): the data was not split disjointly"
            )
        merged.update(part)
    return merged


def broadcast_int(value: int) -> int:
    """Rank 0's return code to every rank, so all processes exit alike."""
    rank, world = rank_and_world()
    if world == 1:
        return value
    box = [value if rank == 0 else None]
    dist.broadcast_object_list(box, src=0)
    return int(box[0])
