# session 6, call 4 (nvidia-h200, the session's last ~4 minutes): issue #3, routed patterns' gathers.
# kernels/gather.py's _take now selects whole rows of the flattened tensor (index_select; backward a
# row-wise index_add) instead of torch.gather with its index expanded over D. A/B in one process at
# 16k: the old _take patched back in ("zoo_torch_gather" rows), then the new one ("zoo").
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
timeout -s ABRT 170 python3 - <<'PY'
import json, os, sys, datetime, torch
sys.path.insert(0, "tools")
import bench_attention as BA
import zoo.attention.kernels.gather as G
new = G._take
def old(x, idx):
    if idx is None:
        return x
    if idx.dim() == 1:
        return x.index_select(2, idx)
    b, h, _, d = x.shape
    idx = idx.expand(b, h, idx.shape[-1])
    return torch.gather(x, 2, idx[..., None].expand(b, h, idx.shape[-1], d))
rows = []
doc = {"command": "bash benchmarks/jobs/h200_s6_call4.sh", "gpu": torch.cuda.get_device_name(), "torch": torch.__version__,
       "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "rows": rows}
def log(r):
    print({k: r.get(k) for k in ("impl", "pattern", "fwd_ms", "fwdbwd_ms", "useful_tflops_fwdbwd", "max_rel_err", "error")}, flush=True)
    json.dump(doc, open(os.environ["OUT"] + "/attention.json", "w"), indent=1)
for name in ("lsh", "anchor"):  # same outputs and gradients both ways (N = 4,096, bf16)
    p, st = BA.cases()[name], BA.routing_state(BA.cases()[name], "cuda")
    q, k, v = (torch.randn(2, 16, 4096, 64, device="cuda", dtype=torch.bfloat16, requires_grad=True) for _ in range(3))
    res = []
    for fn in (old, new):
        G._take = fn
        o = BA.sparse_attention(q, k, v, p, backend="flex", **st)
        res.append([o] + list(torch.autograd.grad(o.float().square().sum(), (q, k, v))))
    diff = max(float((a.float() - b.float()).abs().max()) for a, b in zip(*res))
    rows.append(dict(impl="check", pattern=name, N=4096, max_abs_diff_old_vs_new=diff)); log(rows[-1])
    print(name, "max |old - new| over out and grads:", diff, flush=True)
for name in ("lsh", "anchor"):
    for impl, fn in (("zoo_torch_gather", old), ("zoo", new)):
        G._take = fn
        part = []
        BA.bench_kernels(16384, [name], part, lambda r: None, sdpa=False)
        for r in part:
            r["impl"] = impl if r.get("impl") == "zoo" else r["impl"]
            rows.append(r); log(r)
PY
