"""What the diagnosis jobs (s21_route_diag.py to s26_diag.py) share: measurements as printed rows,
torch.profiler's top kernels, the rows written under $OUT, the benchmark's inputs and one variant's timing
against the first variant's output and gradients."""
import json
import os
import time

import torch

rows = []


def note(**r):
    rows.append(r)
    print(r, flush=True)


def kernel_events(fn):
    """torch.profiler's CUDA kernel events of one call of fn (after warm-up), longest first."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    return sorted((e for e in prof.key_averages() if e.device_time_total > 0), key=lambda e: -e.device_time_total)


def profile(name, n, fn, top=12):
    """Top CUDA kernels of one call of fn (after warm-up), ms per call."""
    ev = kernel_events(fn)
    prof_total = sum(e.device_time_total for e in ev)
    ev = ev[:top]
    note(N=n, what=f"profile_{name}", total_ms=prof_total / 1e3,
         kernels=[(e.key[:90], round(e.device_time_total / 1e3, 3), e.count) for e in ev])


def save(name):
    """The rows as $OUT/<name> (the current directory without $OUT)."""
    with open(os.path.join(os.environ.get("OUT", "."), name), "w") as f:
        json.dump({"gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "rows": rows}, f, indent=1)


def bench_inputs(n, heads=16, dim=64, tokens=65536):
    """q, k, v (B, heads, n, dim) bf16 needing grad and an output gradient do, B = tokens // n (at least 1):
    the attention benchmark's shapes."""
    g = torch.Generator(device="cuda").manual_seed(0)
    q, k, v, do = (torch.randn(max(1, tokens // n), heads, n, dim, device="cuda", dtype=torch.bfloat16,
                               generator=g) for _ in range(4))
    return q.requires_grad_(), k.requires_grad_(), v.requires_grad_(), do  # do from g too (before session 28:
    # the global RNG, so inputs made again for another variant had another do)


def measure(fn, q, k, v, do, ref, **row):
    """Notes one variant's row (the first call's seconds, forward and forward+backward ms, and the
    differences of its output and gradients from ``ref``) and returns ``ref``, or this variant's output and
    gradients where ``ref`` is None (the first variant). A failing variant is a row with its error."""
    from tools.bench_attention import fwd_bwd, rel_err, timeit
    try:
        t0 = time.perf_counter()
        out = fn()
        grads = torch.autograd.grad(out, (q, k, v), do)
        torch.cuda.synchronize()
        row.update(first_s=round(time.perf_counter() - t0, 2), fwd_ms=timeit(fn),
                   fwdbwd_ms=timeit(fwd_bwd(fn, (q, k, v), do)))
        if ref is None:
            ref = (out.detach(), *grads)
        else:
            row.update(err_out=rel_err(out, ref[0]), err_grads=[rel_err(a, c) for a, c in zip(grads, ref[1:])])
        note(**row)
    except Exception as ex:  # noqa: BLE001 - a failing variant is a row, not the end of the job
        note(**row, error=repr(ex)[:600])
    return ref
