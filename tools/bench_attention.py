"""Attention speed on one GPU: zoo's dispatcher vs plain FlexAttention masks vs dense SDPA vs the
Hugging Face peers, same shapes, one run. Writes JSON + markdown + a PNG (useful TFLOP/s per pattern).

    PYTHONPATH=$PWD python3 tools/bench_attention.py --out benchmarks/attention_h200

Useful TFLOP/s count only allowed token pairs (4 * B * D * pairs forward, x3.5 fwd+bwd);
block TFLOP/s count every tile the kernel computes.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from zoo.attention import SparseSelfAttention, build, sparse_attention  # noqa: E402
from zoo.attention.flops import block_pairs, count_pairs  # noqa: E402
from zoo.attention.kernels.tiles import fused_block  # noqa: E402
from zoo.attention.patterns import runs_fused  # noqa: E402
from zoo.bench import path_of  # noqa: E402

H, D = 16, 64


def cases():
    """Pattern parameters of shared/ANCHORS.md (name in patterns.available() -> pattern)."""
    return {
        "sliding_window": build("sliding_window", left=511, right=0, causal=True),
        "dilated_window": build("dilated_window", left=511, right=0, dilation=2, causal=True),
        "longformer": build("longformer", window=510, global_tokens=32),
        "bigbird": build("bigbird", block=128, window_blocks=3, global_blocks=1, random_blocks=3),
        "strided": build("strided", stride=128, causal=True),
        "fixed": build("fixed", stride=128, summary=8, causal=True),
        "lsh": build("lsh", bucket_size=64, n_hashes=2, chunk=64),
        "anchor": build("anchor", n_anchors=64, chunk=64, window=64),
    }


def routing_state(p, dev):
    """What a model's layer passes with the pattern: anchor layers hold their anchors (an EMA
    router), so a call assigns keys to them instead of running k-means per input."""
    if p.name != "anchor":
        return {}
    g = torch.Generator(device=dev).manual_seed(0)
    return {"anchors": F.normalize(torch.randn(H, p.n_anchors, D, device=dev, generator=g), dim=-1)}


def plain_mask_mod(name, p, n, dev):
    """The hand-written FlexAttention mask_mod a user would write (same semantics as ours)."""
    if name == "sliding_window":
        return lambda b, h, q, k: (q >= k) & (q - k <= p.left)
    if name == "dilated_window":
        return lambda b, h, q, k: (q >= k) & (q - k <= p.left * 2) & ((q - k) % 2 == 0)
    if name == "longformer":
        w, g = p.window // 2, p.global_tokens
        return lambda b, h, q, k: ((q - k).abs() <= w) | (q < g) | (k < g)
    if name == "bigbird":
        table = p.block_table(n // p.block).to(dev)
        return lambda b, h, q, k: table[q // p.block, k // p.block]
    if name == "strided":
        return lambda b, h, q, k: (q >= k) & ((q - k < p.stride) | ((q - k) % p.stride == 0))
    if name == "fixed":
        return lambda b, h, q, k: (q >= k) & ((q // p.stride == k // p.stride) | (k % p.stride >= p.stride - p.summary))
    return None


def timeit(fn, warmup=10, rep=50):
    from triton.testing import do_bench
    return do_bench(fn, warmup=warmup, rep=rep, return_mode="median")


def fwd_bwd(fn, inputs, do):
    def run():
        out = fn()
        torch.autograd.grad(out, inputs, do)
    return run


def peak_gib(fn):
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - base) / 2**30


def rel_err(a, b):
    return ((a.float() - b.float()).abs().max() / b.float().abs().max().clamp(min=1e-6)).item()


def row(impl, pattern, n, b, tf, tb, pairs, blocks, mem, err, **extra):
    useful = 4 * b * D * pairs
    return dict(impl=impl, pattern=pattern, N=n, B=b, H=H, D=D, dtype="bfloat16", fwd_ms=tf, fwdbwd_ms=tb,
                useful_tflops_fwd=useful / tf / 1e9 if tf else None,
                useful_tflops_fwdbwd=3.5 * useful / tb / 1e9 if tb else None,
                block_tflops_fwdbwd=3.5 * 4 * b * D * blocks / tb / 1e9 if (tb and blocks) else None,
                peak_mem_gib=mem, max_rel_err=err, density=pairs / (H * n * n), **extra)


def bench_kernels(n, names, rows, log, sdpa=True, ab=False):
    from zoo.attention.kernels.block_mask import block_mask_from_mask_mod
    from zoo.attention.kernels.flex import _compiled
    dev = "cuda"
    b = max(1, 65536 // n)
    g = torch.Generator(device=dev).manual_seed(0)
    q, k, v = (torch.randn(b, H, n, D, device=dev, dtype=torch.bfloat16, generator=g).requires_grad_()
               for _ in range(3))
    do = torch.randn_like(q)
    for causal in ((True, False) if sdpa else ()):
        fn = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal)  # noqa: E731
        pairs = H * (n * (n + 1) // 2 if causal else n * n)
        rows.append(row("sdpa_dense", "dense" + ("_causal" if causal else ""), n, b, timeit(fn),
                        timeit(fwd_bwd(fn, (q, k, v), do)), pairs, pairs, peak_gib(fwd_bwd(fn, (q, k, v), do)), None))
        log(rows[-1])
    flex = _compiled()
    for name in names:
        p = cases()[name]
        state = routing_state(p, dev)
        try:
            t0 = time.perf_counter()
            ours = lambda: sparse_attention(q, k, v, p, backend="flex", **state)  # noqa: E731
            out = ours()
            torch.cuda.synchronize()
            first_ms = (time.perf_counter() - t0) * 1e3
            tf = timeit(ours)
            tb = timeit(fwd_bwd(ours, (q, k, v), do))
            mem = peak_gib(fwd_bwd(ours, (q, k, v), do))
            extra = {}
            if p.data_dependent:
                pairs, blocks = routed_pairs(p, q, k, state), None
                with torch.no_grad():  # its share of the forward: hashing / assignment, sorting
                    extra["route_ms"] = timeit(lambda: p.route(q, k, **state))
            else:
                pairs, blocks = count_pairs(p, n, H, device=dev), block_pairs(p, n, H, device=dev)
            err, plain = None, plain_mask_mod(name, p, n, dev)
            if plain is not None:  # built like ours (torch's compiled create_block_mask has a sort
                # whose cold compile takes minutes at some lengths: kernels/block_mask.py)
                block_mask_from_mask_mod(plain, 1, n, n, 128, dev)
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                bm = block_mask_from_mask_mod(plain, 1, n, n, 128, dev)
                torch.cuda.synchronize()
                mask_ms = (time.perf_counter() - t0) * 1e3
                pf = lambda: flex(q, k, v, block_mask=bm)  # noqa: E731
                ref = pf()
                err = rel_err(out, ref)
                ptb = timeit(fwd_bwd(pf, (q, k, v), do))
                rows.append(row("flex_mask_mod", name, n, b, timeit(pf), ptb, pairs,
                                (bm.numel() - 0) and int((1 - bm.sparsity() / 100) * n * n * H),
                                peak_gib(fwd_bwd(pf, (q, k, v), do)), None, mask_build_ms=mask_ms))
                log(rows[-1])
            rows.append(row("zoo", name, n, b, tf, tb, pairs, blocks, mem, err, first_call_ms=first_ms,
                            path=path_of(p, n), **extra))
            log(rows[-1])
            if ab:
                bench_alternative(p, ours, q, k, v, do, out, pairs, blocks, rows, log)
                if name == "dilated_window":
                    bench_per_head_dilation(q, k, v, do, rows, log)
        except Exception as e:  # one failing pattern must not hide the others
            rows.append(dict(impl="zoo", pattern=name, N=n, B=b, error=repr(e)[:400]))
            log(rows[-1])
    del q, k, v, do
    torch.cuda.empty_cache()


@contextlib.contextmanager
def _env(var: str | None = None, value: str = "1"):
    """The environment switch ``var``=``value`` for a whole row, its backward and reference gradients
    included (kernels read these per call), then as before."""
    old = os.environ.get(var) if var else None
    if var:
        os.environ[var] = value
    try:
        yield
    finally:
        if var and old is None:
            del os.environ[var]
        elif var:
            os.environ[var] = old


def bench_alternative(p, ours, q, k, v, do, out, pairs, blocks, rows, log):
    """The paths the dispatcher does not take, timed in the same process: a fused pattern's
    component pieces (rows "zoo_components") and, where the default runs it on 64-token blocks, its
    BlockMask on 128-token ones ("zoo_block128", ZOO_FLEX_BLOCK=128); for a
    pattern that fuses by family but runs as class heads at this length (dilated r = 2), its BlockMask
    ("zoo_fused"); for
    component-path patterns the plumbing as it was before session 8, index gathers and the eager
    merge ("zoo_eager_plumbing"); for routed patterns (sorted since session 20) the component path
    ("zoo_components"), the sorted path's eager plumbing ("zoo_eager_plumbing"), its routing in torch
    instead of the fused argmax kernel ("zoo_torch_routing": a near-tie bucket may differ) and the
    kernel's dots in tf32x3 instead of three bf16 products ("zoo_tf32x3_routing", ZOO_ARGMAX_PRECISION=tf32x3); and, where
    residue classes run as heads (kernels/classes.py), the transpose gathers they replaced
    ("zoo_class_gather")."""
    from zoo.attention.kernels.flex import flex_attention
    n, b = q.shape[2], q.shape[0]
    comps = None if p.data_dependent else p.components(n, n, H)
    pieces = lambda: flex_attention(q, k, v, comps, scale=D ** -0.5)[0]  # noqa: E731
    class_gather = ("zoo_class_gather", "components, ZOO_NO_CLASS_HEADS=1", pieces, ("ZOO_NO_CLASS_HEADS",))
    tiles = {"zoo_eager_plumbing": blocks, "zoo_class_gather": blocks}  # else ours' count does not apply
    if runs_fused(p, (n, n, H, 0)):
        alts = [("zoo_components", "components", pieces, ())]
        if fused_block(q.device, q.dtype, n, D) == 64:
            alts.append(("zoo_block128", "fused, 128-token blocks (ZOO_FLEX_BLOCK=128)", ours,
                         ("ZOO_FLEX_BLOCK", "128")))
            tiles["zoo_block128"] = block_pairs(p, n, H, block=128, device=q.device)
    elif runs_fused(p):
        alts = [("zoo_fused", "fused, ZOO_NO_CLASS_HEADS=1", ours, ("ZOO_NO_CLASS_HEADS",)), class_gather]
    elif p.data_dependent:  # routed chunk bands run in sorted order (kernels/routed.py) since session 20
        alts = [("zoo_components", "components, ZOO_ROUTED_SORTED=0", ours, ("ZOO_ROUTED_SORTED", "0")),
                ("zoo_eager_plumbing", "sorted, ZOO_EAGER_PLUMBING=1 (no compiled gathers / merge)", ours,
                 ("ZOO_EAGER_PLUMBING",)),
                ("zoo_torch_routing", "sorted, ZOO_FUSED_ROUTING=0 (torch hashing / anchor assignment)", ours,
                 ("ZOO_FUSED_ROUTING", "0")),
                ("zoo_tf32x3_routing", "sorted, ZOO_ARGMAX_PRECISION=tf32x3 (the routing kernel's dots in tf32x3)", ours,
                 ("ZOO_ARGMAX_PRECISION", "tf32x3"))]
    else:
        alts = [("zoo_eager_plumbing", "components, ZOO_EAGER_PLUMBING=1", ours, ("ZOO_EAGER_PLUMBING",))]
        if comps is not None and any(c.per_class for c in comps):
            alts.append(class_gather)
    for impl, path, fn, env in alts:
        try:
            # routed patterns route the same way every call (seeded rotations, given anchors): comparable too
            ref = torch.autograd.grad(ours(), (q, k, v), do)  # outside env
            with _env(*env):
                err = rel_err(fn(), out)
                extra = {"max_rel_err_grads_vs_zoo": max(
                    rel_err(a, b_) for a, b_ in zip(torch.autograd.grad(fn(), (q, k, v), do), ref))}
                rows.append(row(impl, p.name, n, b, timeit(fn), timeit(fwd_bwd(fn, (q, k, v), do)), pairs,
                                tiles.get(impl), peak_gib(fwd_bwd(fn, (q, k, v), do)), err, path=path, **extra))
        except Exception as e:
            rows.append(dict(impl=impl, pattern=p.name, N=n, B=b, error=repr(e)[:400]))
        log(rows[-1])


def bench_per_head_dilation(q, k, v, do, rows, log):
    """Dilation as a per-head list (lm_base_longformer's top layers: a quarter of the heads at 2,
    the rest at 1), fused into one BlockMask: the kernel's mask with each dilation a constant
    ("zoo_per_head_dilation", session 11) vs read from a per-head table ("zoo_per_head_table",
    before), outputs and gradients compared with each other."""
    from zoo.attention.patterns import DilatedWindow

    class TableForm(DilatedWindow):  # the kernel reads the dilations from a tensor, as before
        def kernel_mask_parts(self, n):
            return self.mask_parts(n)
    n, b = q.shape[2], q.shape[0]
    per_head = (1,) * (3 * H // 4) + (2,) * (H // 4)
    variants = [("zoo_per_head_dilation", build("dilated_window", left=511, right=0, dilation=list(per_head),
                                                causal=True)),
                ("zoo_per_head_table", TableForm(left=511, right=0, dilation=per_head, causal=True))]
    outs = []
    for impl, p in variants:
        try:
            fn = lambda p=p: sparse_attention(q, k, v, p, backend="flex")  # noqa: E731
            out = fn()
            grads = torch.autograd.grad(out, (q, k, v), do)
            err = None if not outs else max(rel_err(a, b_) for a, b_ in zip((out, *grads), outs[0]))
            outs.append((out, *grads))
            rows.append(row(impl, "dilated_window", n, b, timeit(fn), timeit(fwd_bwd(fn, (q, k, v), do)),
                            count_pairs(p, n, H, device=q.device), block_pairs(p, n, H, device=q.device),
                            peak_gib(fwd_bwd(fn, (q, k, v), do)), None, path=f"fused, per-head dilations {per_head}",
                            max_rel_err_vs_constants=err))
        except Exception as e:
            rows.append(dict(impl=impl, pattern="dilated_window", N=n, B=b, error=repr(e)[:400]))
        log(rows[-1])


@torch.no_grad()
def routed_pairs(p, q, k, state):
    """Pairs a data-dependent pattern computes on these inputs: the sizes of its routed key
    ranges (per sequence, summed over heads and rounds)."""
    total = 0
    for comp in p.route(q, F.normalize(q, dim=-1) if p.name == "lsh" else k, **state):
        lo, hi = comp.ranges
        heads = 1 if comp.heads is None else 1
        total += int((hi - lo + 1).clamp(min=0).expand(q.shape[0], q.shape[1], lo.shape[-1]).sum()) * heads
    return total // q.shape[0]


def peer_modules(x, n):
    """The Hugging Face modules users would otherwise pick, with the zoo pattern of the same shapes:
    impl -> (function of x (1, n, H*D) -> out, pattern); impl -> error string where one fails to build."""
    import transformers  # noqa: F401
    dev, dt, hidden = x.device, x.dtype, x.shape[-1]
    peers = {}
    try:
        from transformers.models.longformer.modeling_longformer import LongformerConfig, LongformerSelfAttention
        cfg = LongformerConfig(hidden_size=hidden, num_attention_heads=H, attention_window=[512])
        mod = LongformerSelfAttention(cfg, layer_id=0).to(dev, dt)
        mask = torch.zeros(1, n, device=dev, dtype=dt)
        mask[:, :32] = 10000.0
        is_masked, is_global = mask < 0, mask > 0

        def hf_lf(x):
            return mod(x, attention_mask=mask, is_index_masked=is_masked, is_index_global_attn=is_global,
                       is_global_attn=True)[0]
        peers["hf_longformer"] = (hf_lf, build("longformer", window=512, global_tokens=32))
    except Exception as e:
        peers["hf_longformer"] = repr(e)[:300]
    try:
        from transformers.models.big_bird.modeling_big_bird import (BigBirdBlockSparseAttention, BigBirdConfig,
                                                                    BigBirdModel)
        cfg = BigBirdConfig(hidden_size=hidden, num_attention_heads=H, attention_type="block_sparse", block_size=64,
                            num_random_blocks=3, max_position_embeddings=n)
        mod_bb = BigBirdBlockSparseAttention(cfg, seed=0).to(dev, dt)
        am = torch.ones(1, n, device=dev, dtype=dt)
        blocked, band, from_m, to_m = BigBirdModel.create_masks_for_block_sparse_attn(am, 64)

        def hf_bb(x):
            return mod_bb(x, band_mask=band, from_mask=from_m, to_mask=to_m, from_blocked_mask=blocked,
                          to_blocked_mask=blocked)[0]
        peers["hf_bigbird"] = (hf_bb, build("bigbird", block=64, window_blocks=3, global_blocks=1, random_blocks=3))
    except Exception as e:
        peers["hf_bigbird"] = repr(e)[:300]
    try:
        from transformers.models.reformer.modeling_reformer import LSHSelfAttention, ReformerConfig
        cfg = ReformerConfig(hidden_size=hidden, num_attention_heads=H, attention_head_size=D, lsh_attn_chunk_length=64,
                             num_hashes=2, num_buckets=n // 64, lsh_num_chunks_before=1, lsh_num_chunks_after=0,
                             is_decoder=False, max_position_embeddings=n)
        mod_r = LSHSelfAttention(cfg).to(dev, dt)
        peers["hf_reformer"] = (lambda x: mod_r(x)[0], build("lsh", bucket_size=64, n_hashes=2, chunk=64))
    except Exception as e:
        peers["hf_reformer"] = repr(e)[:300]
    return peers


def graphed(fn, x):
    """fn (x -> out) captured as CUDA graphs, forward and backward (``torch.cuda.make_graphed_callables``;
    gradients for x only, as ``fwd_bwd`` takes them): the same kernels with no host work between
    them. At B = 1 our LSH module is host-bound (3.2-6.0 ms eager in runs 41-47, 2.39 ms as graphs in
    run 48). Capture fails where fn synchronises with the host."""
    return torch.cuda.make_graphed_callables(fn, (x,))


def bench_peers(rows, log, n=16384, graphs=True):
    """Hugging Face modules vs SparseSelfAttention modules (projections included), B=1, hidden 1024,
    eager; with ``graphs`` each also as CUDA graphs (impl + "_graphed"), checked against its eager
    output and input gradient."""
    import transformers
    dev, dt, hidden = "cuda", torch.bfloat16, H * D
    x = torch.randn(1, n, hidden, device=dev, dtype=dt, requires_grad=True)
    do = torch.randn_like(x)
    for impl, peer in peer_modules(x, n).items():
        if isinstance(peer, str):
            rows.append(dict(impl=impl, error=peer))
            log(rows[-1])
            continue
        fn, pattern = peer
        ours = SparseSelfAttention(hidden, H, pattern).to(dev, dt)
        for who, f in ((impl, fn), ("zoo_module", lambda x: ours(x))):
            for graph in (False, True) if graphs else (False,):
                name = who + ("_graphed" if graph else "")
                try:
                    before = torch.cuda.memory_reserved()
                    g = graphed(f, x) if graph else f
                    # the graphs' private pools hold every intermediate for good: their reserve is the footprint
                    extra = dict(graph_pool_gib=(torch.cuda.memory_reserved() - before) / 2**30) if graph else {}
                    if graph:  # the graphs replay the eager kernels: same output and gradient
                        out, want = g(x), f(x)
                        extra.update(max_rel_err=rel_err(out, want), grad_rel_err=rel_err(
                            *(torch.autograd.grad(o, x, do)[0] for o in (out, want))))
                    call = lambda: g(x)  # noqa: E731
                    call()
                    tf, tb = timeit(call, 5, 20), timeit(fwd_bwd(call, (x,), do), 5, 20)
                    rows.append(dict(impl=name, peer_of=impl, pattern=pattern.name, N=n, B=1, H=H, D=D,
                                     dtype="bfloat16", fwd_ms=tf, fwdbwd_ms=tb,
                                     peak_mem_gib=None if graph else peak_gib(fwd_bwd(call, (x,), do)),
                                     transformers=transformers.__version__, **extra))
                except Exception as e:
                    rows.append(dict(impl=name, peer_of=impl, pattern=pattern.name, N=n, error=repr(e)[:300]))
                log(rows[-1])


def profile_patterns(names, rows, log, n=16384, top=12):
    """Where the time of a pattern's forward+backward goes: the top GPU kernels (torch.profiler)."""
    from torch.profiler import ProfilerActivity, profile

    from zoo.bench import top_kernels
    b = max(1, 65536 // n)
    q, k, v = (torch.randn(b, H, n, D, device="cuda", dtype=torch.bfloat16).requires_grad_() for _ in range(3))
    do = torch.randn_like(q)
    for name in names:
        p = cases()[name]
        state = routing_state(p, "cuda")
        run = fwd_bwd(lambda: sparse_attention(q, k, v, p, backend="flex", **state), (q, k, v), do)
        try:
            run()
            torch.cuda.synchronize()
            with profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as prof:
                for _ in range(3):
                    run()
                torch.cuda.synchronize()
            kernels = top_kernels(prof, 3, top)
            rows.append(dict(impl="zoo", pattern=name, N=n, B=b, profile=kernels))
        except Exception as e:
            rows.append(dict(impl="zoo", pattern=name, N=n, B=b, profile_error=repr(e)[:300]))
        log(rows[-1])
        for kr in rows[-1].get("profile", []):
            print(f"   {kr['ms_per_call']:8.3f} ms  x{kr['calls']:<4d} {kr['name']}")


def bench_long(rows, log, n=1 << 20):
    """Memory linear in N: sliding window forward+backward at a million tokens."""
    dev = "cuda"
    p = build("sliding_window", left=511, right=0, causal=True)
    q, k, v = (torch.randn(1, H, n, D, device=dev, dtype=torch.bfloat16).requires_grad_() for _ in range(3))
    do = torch.randn_like(q)
    f = lambda: sparse_attention(q, k, v, p, backend="flex")  # noqa: E731
    try:
        f()
        mem = peak_gib(fwd_bwd(f, (q, k, v), do))
        tf, tb = timeit(f, 3, 10), timeit(fwd_bwd(f, (q, k, v), do), 3, 10)
        pairs = count_pairs(p, n, H, device=dev)
        rows.append(row("zoo", "sliding_window", n, 1, tf, tb, pairs, block_pairs(p, n, H, device=dev), mem, None,
                        note="1M tokens"))
    except Exception as e:
        rows.append(dict(impl="zoo", pattern="sliding_window", N=n, error=repr(e)[:400]))
    log(rows[-1])


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="benchmarks/attention_h200")
    ap.add_argument("--ns", default="4096,16384,65536")
    ap.add_argument("--patterns", default=",".join(cases()))
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--no-long", action="store_true")
    ap.add_argument("--no-sdpa", action="store_true")
    ap.add_argument("--no-graphs", action="store_true", help="time the peers eagerly only (no CUDA-graph rows)")
    ap.add_argument("--peers-first", action="store_true", help="run the Hugging Face peers before the kernels")
    ap.add_argument("--profile", default="", help="patterns whose top GPU kernels to list (N=16,384)")
    ap.add_argument("--ab", action="store_true",
                    help="also time the alternative paths: component pieces of fused patterns and their BlockMask "
                         "on 128-token blocks where the default is 64 (zoo_block128); eager plumbing and (residue "
                         "classes) the class gathers of the others")
    ap.add_argument("--deadline", type=float, default=0, help="seconds; skip remaining work after it")
    args = ap.parse_args(argv)
    rows = []
    t0 = time.time()
    import triton

    def save():
        doc = {"command": "PYTHONPATH=$PWD python3 tools/bench_attention.py " + " ".join(sys.argv[1:]),
               "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "triton": triton.__version__,
               "wall_seconds": round(time.time() - t0, 1), "rows": rows}
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        with open(args.out + ".json", "w") as f:
            json.dump(doc, f, indent=1)
        return doc

    def log(r):
        keys = ("impl", "pattern", "N", "fwd_ms", "fwdbwd_ms", "useful_tflops_fwdbwd", "peak_mem_gib", "max_rel_err",
                "error")
        print({k: (round(r[k], 3) if isinstance(r.get(k), float) else r.get(k)) for k in keys if k in r}, flush=True)
        save()

    def time_left():
        return not args.deadline or time.time() - t0 < args.deadline
    names = [x for x in args.patterns.split(",") if x]
    if args.peers_first and not args.no_peers:
        bench_peers(rows, log, graphs=not args.no_graphs)
    for n in [int(x) for x in args.ns.split(",") if x]:
        for name in names:
            if time_left():
                bench_kernels(n, [name], rows, log, sdpa=(name == names[0]) and not args.no_sdpa, ab=args.ab)
    if not args.no_peers and not args.peers_first and time_left():
        bench_peers(rows, log, graphs=not args.no_graphs)
    if args.profile and time_left():
        profile_patterns([x for x in args.profile.split(",") if x], rows, log)
    if not args.no_long and time_left():
        bench_long(rows, log)
    doc = save()
    from zoo.bench import attention_markdown, attention_plot
    with open(args.out + ".md", "w") as f:
        f.write(attention_markdown(doc))
    attention_plot({"gpu": doc["gpu"], "runs": [dict(doc, path="this run")]}, args.out + ".png")
    print(attention_markdown(doc))


if __name__ == "__main__":
    main()
