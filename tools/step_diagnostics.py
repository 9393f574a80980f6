"""Where a training step's time goes, for ``tools/bench_train.py``: the first (compiling) step
split into forward, backward, BlockMask builds and compiler phases, and a profile of later steps
(wall vs GPU kernel time, top ops). A low MFU or a minutes-long first step is explained from
these rows, not guessed.
"""
from __future__ import annotations

import os
import time
from typing import Any

import torch

from zoo.train.distributed import on_cuda


def sync() -> None:
    if on_cuda():
        torch.cuda.synchronize()


def profile_steps(engine, inputs, steps: int) -> dict[str, Any]:
    """Where a training step's time goes: wall vs GPU kernel time per step (a gap is host-side
    overhead: launches, Python, DeepSpeed hooks), the top ops by GPU time, and the GPU's idle
    gaps by the op that ended them (``gpu_idle``)."""
    from torch.profiler import ProfilerActivity, profile

    from torch.profiler import record_function

    from zoo.bench import gpu_busy_ms, gpu_idle, kernel_kinds, kernel_origins, top_gpu_kernels, top_kernels
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_cuda() else [])
    sync()
    t0 = time.perf_counter()
    with profile(activities=acts, with_stack=True) as prof:  # stacks: kernel_origins
        for _ in range(steps):
            with record_function("zoo::forward"):
                out = engine(**inputs)
            with record_function("zoo::backward"):
                engine.backward(out["loss"])
            with record_function("zoo::step"):
                engine.step()
        sync()
    wall = (time.perf_counter() - t0) * 1e3 / steps
    return {"steps": steps, "wall_ms_per_step": round(wall, 2), "gpu_busy_ms_per_step": round(gpu_busy_ms(prof, steps), 2),
            "gpu_ms_by_kind": kernel_kinds(prof, steps), "top_gpu_kernels": top_gpu_kernels(prof, steps, 15),
            "gpu_ms_by_origin": kernel_origins(prof, steps), "gpu_idle": gpu_idle(prof, steps),
            "top_ops": top_kernels(prof, steps, 15)}


def _step(engine, inputs) -> None:
    out = engine(**inputs)
    engine.backward(out["loss"])
    engine.step()


def host_vs_gpu(engine, inputs, steps: int = 3, head_start_ms: float = 400.0) -> dict[str, Any]:
    """Whether a step waits on the host, without a profiler's own host overhead: the host's time
    to enqueue a step (no sync), and the GPU's time for it when a sleep kernel first gives the host
    a head start (``gpu_ms``: the step's kernels back to back). ``synced_in_step`` means the host
    blocked inside the step (it reached the end after the sleep did: a sync point waited on the
    GPU, so the head start was lost there); ``sync_points`` lists the lines of the step that
    synchronise (``torch.cuda.set_sync_debug_mode``)."""
    import warnings
    if not on_cuda():
        return {}
    sync()
    t0 = time.perf_counter()
    torch.cuda._sleep(10**8)  # calibrate: cycles per ms of this GPU's sleep kernel
    sync()
    cycles = int(head_start_ms * 10**8 / ((time.perf_counter() - t0) * 1e3))

    def timed(sleep: bool, work: bool) -> tuple[float, float]:
        sync()
        t0 = time.perf_counter()
        if sleep:
            torch.cuda._sleep(cycles)
        if work:
            _step(engine, inputs)
        t_host = time.perf_counter() - t0
        sync()
        return t_host * 1e3, (time.perf_counter() - t0) * 1e3
    host, gpu, blocked = [], [], 0
    for _ in range(steps):
        host.append(timed(False, True)[0])
        sleep_ms = timed(True, False)[1]
        t_host, t_total = timed(True, True)
        blocked += t_host >= sleep_ms
        gpu.append(t_total - sleep_ms)
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _step(engine, inputs)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    where: dict[str, int] = {}
    for w in caught:
        if "synchroniz" in str(w.message):
            key = f"{os.path.relpath(w.filename) if 'zoo' in w.filename else w.filename.rsplit('site-packages/', 1)[-1]}:{w.lineno}"
            where[key] = where.get(key, 0) + 1
    return {"host_ms": round(sorted(host)[len(host) // 2], 2), "gpu_ms": round(sorted(gpu)[len(gpu) // 2], 2),
            "head_start_ms": head_start_ms, "synced_in_step": f"{blocked}/{steps}",
            "sync_points": [dict(at=k, calls=v) for k, v in sorted(where.items(), key=lambda kv: -kv[1])[:12]]}


def first_step_breakdown(t_fwd: float, t_step: float) -> dict[str, Any]:
    """Where the first (compiling) step's time went: forward vs backward+optimizer, each fused
    BlockMask build, and the compiler's own phases (dynamo tracing, inductor, Triton)."""
    from torch._dynamo.utils import compile_times

    from zoo.attention.kernels.flex import BUILD_SECONDS
    out: dict[str, Any] = {"forward_s": round(t_fwd, 2), "backward_and_step_s": round(t_step - t_fwd, 2),
                           "block_mask_builds_s": dict(BUILD_SECONDS)}
    try:
        lines = (compile_times(repr="str", aggregate=True) or "").splitlines()
        phases = [ln.rsplit(",", 1) for ln in lines if ln.count(",") >= 1 and not ln.startswith("Function")]
        top = sorted(((k.strip(), float(v)) for k, v in phases if v.strip().replace(".", "", 1).isdigit()),
                     key=lambda kv: -kv[1])[:8]
        out["compiler_s"] = {k: round(v, 2) for k, v in top}
    except Exception as e:  # noqa: BLE001 - a private torch helper: its format may move
        out["compiler_s"] = f"unavailable: {e!r}"[:200]
    return out
