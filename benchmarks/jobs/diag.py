"""What the diagnosis jobs (s21_route_diag.py, s22_gpu_diag.py) share: measurements as printed rows,
torch.profiler's top kernels, and the rows written under $OUT."""
import json
import os

import torch

rows = []


def note(**r):
    rows.append(r)
    print(r, flush=True)


def profile(name, n, fn, top=12):
    """Top CUDA kernels of one call of fn (after warm-up), ms per call."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    ev = sorted(prof.key_averages(), key=lambda e: -e.device_time_total)[:top]
    note(N=n, what=f"profile_{name}", total_ms=sum(e.device_time_total for e in prof.key_averages()) / 1e3,
         kernels=[(e.key[:90], round(e.device_time_total / 1e3, 3), e.count) for e in ev])


def save(name):
    """The rows as $OUT/<name> (the current directory without $OUT)."""
    with open(os.path.join(os.environ.get("OUT", "."), name), "w") as f:
        json.dump({"gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "rows": rows}, f, indent=1)
