"""Where a training step's time goes, for ``tools/bench_train.py``: the first (compiling) step
split into forward, backward, BlockMask builds and compiler phases, and a profile of later steps
(wall vs GPU kernel time, top ops). A low MFU or a minutes-long first step is explained from
these rows, not guessed.
"""
from __future__ import annotations

import time
from typing import Any

import torch

from zoo.bench import PHASE_NAMES
from zoo.train.distributed import on_cuda


def sync() -> None:
    if on_cuda():
        torch.cuda.synchronize()


def profile_steps(engine, inputs, steps: int) -> dict[str, Any]:
    """Where a training step's time goes: wall vs GPU kernel time per step (a gap is host-side
    overhead: launches, Python, DeepSpeed hooks), the top ops by GPU time, and the GPU's idle
    gaps by the op that ended them (``gpu_idle``)."""
    from torch.profiler import ProfilerActivity, profile, record_function

    from zoo.bench import (copy_origins, gpu_busy_ms, gpu_idle, kernel_kinds, kernel_origins, phase_mark,
                           top_gpu_kernels, top_kernels)
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_cuda() else [])
    sync()
    t0 = time.perf_counter()
    # stacks and shapes (kernel_origins, copy_origins) add host time per op: the profiled wall time
    # and idle gaps are not the step's (session 13 on: with shapes), host_vs_gpu is
    with profile(activities=acts, with_stack=True, record_shapes=True) as prof:
        for _ in range(steps):
            for name, call in _phases(engine, inputs):
                with record_function(phase_mark(name)):  # gpu_idle splits idle time by these marks
                    call()
        sync()
    wall = (time.perf_counter() - t0) * 1e3 / steps
    return {"steps": steps, "wall_ms_per_step": round(wall, 2),
            "gpu_busy_ms_per_step": round(gpu_busy_ms(prof, steps), 2),
            "gpu_ms_by_kind": kernel_kinds(prof, steps), "top_gpu_kernels": top_gpu_kernels(prof, steps, 15),
            "gpu_ms_by_origin": kernel_origins(prof, steps), "copies": copy_origins(prof, steps),
            "gpu_idle": gpu_idle(prof, steps), "top_ops": top_kernels(prof, steps, 15)}


def _phases(engine, inputs) -> tuple:
    """A training step as (phase, call) pairs (``PHASE_NAMES``), run in order (backward reads
    forward's loss)."""
    out = {}
    return tuple(zip(PHASE_NAMES, (lambda: out.update(engine(**inputs)), lambda: engine.backward(out["loss"]),
                                   engine.step)))


def _sleep(cycles: int) -> None:
    torch.cuda._sleep(cycles)


def _timed(call, cycles: int = 0) -> tuple[float, float]:
    """(host ms to return, wall ms to the GPU's end) of ``call`` after a sleep of ``cycles``."""
    sync()
    t0 = time.perf_counter()
    if cycles:
        _sleep(cycles)
    call()
    t_host = time.perf_counter() - t0
    sync()
    return t_host * 1e3, (time.perf_counter() - t0) * 1e3


def host_vs_gpu(engine, inputs, steps: int = 3, head_start_ms: float = 300.0) -> dict[str, Any]:
    """Whether each phase of a training step (forward, backward, optimizer step) waits on the host,
    without a profiler's own host overhead (``phases_host_gpu``)."""
    return phases_host_gpu(lambda: _phases(engine, inputs), steps, head_start_ms)


def phases_host_gpu(phases, steps: int = 3, head_start_ms: float = 300.0) -> dict[str, Any]:
    """Whether each of ``phases()`` (a fresh sequence of (name, call) pairs per step, run in order)
    waits on the host. Per phase (medians of ``steps``): ``wall_ms`` synced before and after;
    ``host_ms`` to enqueue it; ``gpu_ms`` when a sleep kernel first gives the host a head start, so
    its kernels run back to back. ``wall_ms`` well above ``gpu_ms`` is GPU time lost to the host.
    ``synced`` counts runs where the host reached the phase's end after the sleep did: a sync point
    inside waited on the GPU and spent the head start (``gpu_ms`` then includes host time after
    it). ``sync_points``: the synchronising lines (``set_sync_debug_mode``)."""
    import statistics
    import warnings
    if not on_cuda():
        return {}
    cycles = int(head_start_ms * 10**8 / _timed(lambda: None, 10**8)[1])  # calibrated sleep
    rec = {name: {"wall": [], "host": [], "gpu": [], "synced": 0} for name, _ in phases()}
    for _ in range(steps):
        sleep_ms = _timed(lambda: None, cycles)[1]
        for sleep in (False, True):
            for name, call in phases():
                t_host, t_wall = _timed(call, cycles if sleep else 0)
                r = rec[name]
                if sleep:
                    r["gpu"].append(t_wall - sleep_ms)
                    r["synced"] += t_host >= sleep_ms
                else:
                    r["wall"].append(t_wall)
                    r["host"].append(t_host)
    out: dict[str, Any] = {"head_start_ms": head_start_ms}
    for name, r in rec.items():
        out[name] = {f"{k}_ms": round(statistics.median(r[k]), 2) for k in ("wall", "host", "gpu")}
        out[name]["synced"] = f"{r['synced']}/{steps}"
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _, call in phases():
                call()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    where: dict[str, int] = {}
    for w in caught:
        if "synchroniz" in str(w.message):
            key = f"{w.filename.rsplit('site-packages/', 1)[-1].rsplit('/site/', 1)[-1]}:{w.lineno}"
            where[key] = where.get(key, 0) + 1
    out["sync_points"] = [dict(at=k, calls=v) for k, v in sorted(where.items(), key=lambda kv: -kv[1])[:12]]
    return out


def first_step_breakdown(t_fwd: float, t_step: float) -> dict[str, Any]:
    """Where the first (compiling) step's time went: forward vs backward+optimizer, each fused
    BlockMask build, and the compiler's own phases (dynamo tracing, inductor, Triton)."""
    from torch._dynamo.utils import compile_times

    from zoo.attention.kernels.flex import BUILD_SECONDS
    out: dict[str, Any] = {"forward_s": round(t_fwd, 3), "backward_and_step_s": round(t_step - t_fwd, 3),
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
