"""Session 23 diagnosis (run by h200_s23_call3.sh): anchor's fwd+bwd enqueues for 6.6 ms on the host
against 3.9 ms of GPU work at B x N = 65,536 (call 1: host-bound, so its eager time varies with the
host), lsh's for 4.6 vs 4.7 ms. Where the host time goes, per call at 16k (B = 4): Python functions by
own and cumulative time (cProfile, 20 calls), and launches / aten ops (torch.profiler, CPU activities).
Prints the tables and writes $OUT/s23_host_profile.json."""
import cProfile
import io
import os
import pstats
import sys

import torch

sys.path.insert(0, os.getcwd())
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from diag import note, save  # noqa: E402
from tools.bench_attention import cases, fwd_bwd, routing_state  # noqa: E402
from zoo.attention import sparse_attention  # noqa: E402

H, D, N, B, CALLS = 16, 64, 16384, 4, 20
g = torch.Generator(device="cuda").manual_seed(0)
qkv = [torch.randn(B, H, N, D, device="cuda", dtype=torch.bfloat16, generator=g).requires_grad_() for _ in range(3)]
do = torch.randn_like(qkv[0])


def table(stats, key, top=30):
    s = io.StringIO()
    pstats.Stats(stats, stream=s).sort_stats(key).print_stats(top)
    return s.getvalue()


for name in ("anchor", "lsh"):
    p = cases()[name]
    state = routing_state(p, "cuda")
    call = fwd_bwd(lambda: sparse_attention(*qkv, p, backend="flex", **state), qkv, do)
    for _ in range(5):
        call()
    torch.cuda.synchronize()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(CALLS):
        call()
    prof.disable()
    torch.cuda.synchronize()
    own, cum = table(prof, "tottime"), table(prof, "cumulative", 45)
    print(f"===== {name}: by own time ({CALLS} calls)\n{own}\n===== {name}: cumulative\n{cum}", flush=True)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU,
                                            torch.profiler.ProfilerActivity.CUDA]) as tp:
        for _ in range(3):
            call()
        torch.cuda.synchronize()
    ev = tp.key_averages()
    launches = sum(e.count for e in ev if e.key in ("cudaLaunchKernel", "cuLaunchKernel", "cuLaunchKernelEx",
                                                    "cudaLaunchKernelExC"))
    aten = sorted((e for e in ev if e.key.startswith("aten::")), key=lambda e: -e.self_cpu_time_total)[:25]
    note(what=f"{name}_host", N=N, B=B, launches_per_call=launches / 3,
         aten_ops_per_call=sum(e.count for e in ev if e.key.startswith("aten::")) / 3,
         top_aten_self_cpu=[(e.key, round(e.self_cpu_time_total / 3e3, 3), e.count // 3) for e in aten],
         cprofile_own=own[-6000:], cprofile_cumulative=cum[-9000:])
save("s23_host_profile.json")
