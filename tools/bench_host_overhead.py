"""Host cost of a compiled model's forward where compute is negligible (CPU, tiny widths): the
attention dispatcher behind each block's graph break vs attention inside the block's graph
(the default; ``ZOO_GRAPH_ATTENTION=0`` is the former). The GPU step of lm_base_longformer at 16k x 4 is host-bound
(benchmarks/train_h200.json, session 13: forward host 16-26 ms for 12 layers), so per-layer host
time is what this isolates. FlexAttention runs forward only on CPU, so this times no_grad forwards
of a train-mode model with flex treated as complete (as on a GPU). At 2 heads lm_base's two layers
with per-head dilations get dilation 2 on both heads and run as class heads (in the graph too); at
its 16 heads they run fused: the layers' paths differ, their count does not.

    python tools/bench_host_overhead.py --out benchmarks/host_overhead_cpu.json
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def forward_ms(model_name: str, graph: bool, n: int, reps: int, **overrides) -> float:
    """Mean wall ms of a no_grad forward of a compiled, train-mode model (after 3 warm-ups)."""
    from zoo.registry import create_model
    os.environ["ZOO_GRAPH_ATTENTION"] = "1" if graph else "0"
    torch.manual_seed(0)
    m = create_model(model_name, compile=True, attn_backend="flex", **overrides).train()
    x = torch.randint(0, 256, (1, n))
    with torch.no_grad():
        for _ in range(3):
            m(input_ids=x)
        t = time.perf_counter()
        for _ in range(reps):
            m(input_ids=x)
    return (time.perf_counter() - t) / reps * 1e3


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="lm_base_longformer.enwik8")
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--depth", type=int, default=12, help="layers (lm_base has 12)")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds of both settings")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    import zoo.attention.attention as A
    A.flex_complete = lambda t: True  # take the GPU's decisions (CPU flex: forward only)
    os.environ["ZOO_GRAPH_VIEWS"] = "0"  # but copy q, k, v: CPU inductor's FlexAttention template needs 4-D buffers
    torch.set_num_threads(1)
    shape = dict(dim=32, num_heads=2, depth=args.depth)
    ms: dict[str, list[float]] = {"dispatcher": [], "graph_attention": []}
    for _ in range(args.rounds):
        for key, graph in (("dispatcher", False), ("graph_attention", True)):
            ms[key].append(round(forward_ms(args.model, graph, args.seq_len, args.reps, **shape), 2))
    doc = {"what": "no_grad forward wall ms of a compiled train-mode model, tiny widths (host-bound), CPU",
           "model": args.model, "overrides": shape, "seq_len": args.seq_len, "reps": args.reps, "ms": ms,
           "per_layer_saving_ms": round((min(ms["dispatcher"]) - min(ms["graph_attention"])) / shape["depth"], 3),
           "torch": torch.__version__, "python": platform.python_version(),
           "cpu": platform.processor() or platform.machine(),
           "threads": 1, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "command": "python tools/bench_host_overhead.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    print(json.dumps(doc, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
