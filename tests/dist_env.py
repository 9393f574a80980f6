"""For tests whose subprocesses start a torch.distributed / DeepSpeed world of their own: a free
local port, and one rank's environment with the tree first on PYTHONPATH (kept after it, so
wheels installed outside the tree, as on the GPU machine, stay importable)."""
from __future__ import annotations

import os
import socket
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_rank_env(accelerator: str = "cpu", **extra: str) -> dict[str, str]:
    """os.environ plus RANK 0 of a world of 1 on a free port, DS_ACCELERATOR (the suite's conftest sets
    cpu; a GPU case passes cuda) and ``extra``."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(free_port()), "PYTHONPATH": path, "DS_ACCELERATOR": accelerator, **extra}
