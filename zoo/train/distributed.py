"""The process group: one code path for a lone ``zoo train`` process and for every rank a
launcher starts (DeepSpeed on GPUs with NCCL, or on CPU with gloo), and the end-of-run check that
data-parallel replicas agree."""
from __future__ import annotations

import os
import socket
from typing import Any

import torch


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def on_cuda() -> bool:
    """Whether this process trains on a GPU (DS_ACCELERATOR=cpu forces the CPU, as the tests do)."""
    return torch.cuda.is_available() and os.environ.get("DS_ACCELERATOR", "cuda") != "cpu"


def init_distributed(local_rank: int | None = None) -> tuple[int, int, int]:
    """Join (or, for a lone process, create) the process group; returns (rank, world, local_rank).

    A plain ``zoo train`` has no launcher environment: describe a world of one so DeepSpeed's
    engine runs exactly as it does under ``deepspeed``.
    """
    import deepspeed
    import torch.distributed as dist

    if "RANK" not in os.environ:
        os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK=str(local_rank or 0),
                          MASTER_ADDR="127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(_free_port()))
    if local_rank is not None:
        os.environ["LOCAL_RANK"] = str(local_rank)
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        from deepspeed.accelerator import get_accelerator

        backend = get_accelerator().communication_backend_name()
        if backend not in ("nccl", "hccl", "xccl"):
            backend = "gloo"  # CPU: gloo ships with every torch build
        deepspeed.init_distributed(dist_backend=backend, auto_mpi_discovery=False)
    if on_cuda():
        torch.cuda.set_device(local)
    return dist.get_rank(), dist.get_world_size(), local


def replica_agreement(engine, world: int) -> dict[str, Any]:
    """Do all data-parallel ranks hold the same weights? (They must, bit for bit, outside ZeRO-3.)

    Each rank reduces every parameter to (sum, sum of squares) in float64; the vectors are
    all-gathered and compared exactly. One collective, at the end of a run."""
    import torch.distributed as dist

    if world == 1 or engine.zero_optimization_partition_weights():
        return {}
    with torch.no_grad():
        local = torch.stack([t for p in engine.module.parameters()
                             for t in (p.double().sum(), p.double().pow(2).sum())]).to(engine.device)
    parts = [torch.empty_like(local) for _ in range(world)]
    dist.all_gather(parts, local)
    diff = max(float((x - parts[0]).abs().max()) for x in parts)
    return {"identical": diff == 0.0, "max_abs_diff": diff, "ranks": world}
