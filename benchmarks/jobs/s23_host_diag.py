"""Session 23 diagnosis (run by h200_s23_call1.sh): is anchor's run-to-run variance (4.07-5.69 ms
fwd+bwd for the same kernels, runs 40-46) host time? Shapes of the attention benchmark (B x N = 65,536,
H = 16, D = 64, bf16), lsh next to anchor:
1. the host's speed at the start and end (a pure-Python loop, the load average);
2. per pattern and N, five timings in one process, eager and as CUDA graphs (the same kernels with
   no host work between them; checked against eager), and one call split into wall / host / GPU time
   with the host's sync points (tools/step_diagnostics.phases_host_gpu).
Prints one line per measurement and writes $OUT/s23_diag.json."""
import os
import sys
import time

import torch

sys.path.insert(0, os.getcwd())
sys.path.insert(0, os.path.join(os.getcwd(), "tools"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from diag import note, save  # noqa: E402
from step_diagnostics import phases_host_gpu  # noqa: E402
from tools.bench_attention import cases, fwd_bwd, rel_err, routing_state, timeit  # noqa: E402
from zoo.attention import sparse_attention  # noqa: E402

H, D = 16, 64


def host_speed(when):
    t0 = time.perf_counter()
    sum(i * i for i in range(2_000_000))
    note(what=f"host_{when}", python_loop_ms=(time.perf_counter() - t0) * 1e3, loadavg=os.getloadavg())


host_speed("start")
for n in (16384, 65536):
    g = torch.Generator(device="cuda").manual_seed(0)
    qkv = [torch.randn(65536 // n, H, n, D, device="cuda", dtype=torch.bfloat16, generator=g).requires_grad_()
           for _ in range(3)]
    do = torch.randn_like(qkv[0])
    for name in ("lsh", "anchor"):
        p = cases()[name]
        state = routing_state(p, "cuda")

        def attend(q, k, v):
            return sparse_attention(q, k, v, p, backend="flex", **state)
        eager = fwd_bwd(lambda: attend(*qkv), qkv, do)
        eager()
        split = phases_host_gpu(lambda: (("fwdbwd", eager),), steps=3)
        try:
            graph = torch.cuda.make_graphed_callables(attend, tuple(qkv))
            out, want = graph(*qkv), attend(*qkv)
            err = rel_err(out, want)
            grad_err = max(rel_err(a, b) for a, b in zip(torch.autograd.grad(out, qkv, do),
                                                             torch.autograd.grad(want, qkv, do)))
            replay = fwd_bwd(lambda: graph(*qkv), qkv, do)
            graphed_ms, graph_error = [timeit(replay) for _ in range(5)], None
        except Exception as e:  # capture fails where the call synchronises with the host
            graphed_ms, err, grad_err, graph_error = None, None, None, repr(e)[:300]
        note(N=n, B=qkv[0].shape[0], what=name, eager_ms=[timeit(eager) for _ in range(5)], graphed_ms=graphed_ms,
             graph_rel_err=err, graph_grad_rel_err=grad_err, graph_error=graph_error,
             host_gpu=split["fwdbwd"], sync_points=split["sync_points"])
    del qkv, do
    torch.cuda.empty_cache()
host_speed("end")
save("s23_diag.json")
