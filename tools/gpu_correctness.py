"""Correctness of the fused GPU backend (flex) against the dense oracle, on a CUDA GPU.

Every static pattern x causal/bidirectional x lengths x padding (incl. fully masked rows) x
fp32/bf16, forward and gradients. Workers split the patterns so Triton compiles run in parallel.
Writes JSON (one row per case) and prints a summary table.

    PYTHONPATH=$PWD python3 tools/gpu_correctness.py --out benchmarks/attention_correctness_h200.json
"""
from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing as mp
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))

TOL = {"float32": 1e-4, "bfloat16": 1e-2}


def _rel(a, b):
    return ((a.double() - b.double()).abs().max() / b.double().abs().max().clamp(min=1.0)).item()


def _inputs(n: int, dtype, g, layout: str):
    """q, k, v (2, 2, n, 64): contiguous, or "projected": dense (B, n, H, D) transposed, the layout
    the models' projection gives (class heads then take their "heads" view)."""
    import torch
    if layout == "projected":
        return [torch.randn(2, n, 2, 64, device="cuda", generator=g, dtype=dtype).requires_grad_().transpose(1, 2)
                for _ in range(3)]
    return [torch.randn(2, 2, n, 64, device="cuda", generator=g, dtype=dtype).requires_grad_() for _ in range(3)]


def _worker(args):
    names, lengths, dtypes, causals, layout, joined_from, copies_split = args
    import torch
    from attention_cases import static_patterns, with_causal
    from zoo.attention import build, sparse_attention
    from zoo.attention.kernels import global_copies, joined
    from zoo.bench import path_of
    if joined_from is not None:  # the joined path (fixed) below its default length, to check it on short inputs
        joined.MIN_TOKENS = joined_from
    if copies_split:  # global copies (Longformer, BigBird) from 2 splits on: lengths the BlockMask's block divides
        global_copies.SPLIT, global_copies.MIN_TOKENS = copies_split, 0
    from zoo.attention.kernels.flex import flex_attention
    from zoo.attention.kernels.reference import reference_attention
    from zoo.attention.kernels.tiles import fused_block
    pats = {**static_patterns(), "lsh": build("lsh", bucket_size=32, n_hashes=2, chunk=32),
            "anchor": build("anchor", n_anchors=8, chunk=32, window=16),
            "lsh_chunk64": build("lsh", bucket_size=64, n_hashes=2, chunk=64),  # the benchmark's chunk size
            "anchor_chunk64": build("anchor", n_anchors=16, chunk=64, window=64),
            "fixed_s128": build("fixed", stride=128, summary=8)}  # the benchmark's: same-block by shifts
    rows = []
    for name in names:
        for causal in causals:
            p = with_causal(pats[name], causal)
            for n in lengths:
                for padded in (False, True):
                    for dt in dtypes:
                        dtype = getattr(torch, dt)
                        g = torch.Generator(device="cuda").manual_seed(n)
                        q, k, v = _inputs(n, dtype, g, layout)
                        kpm = None
                        if padded:
                            kpm = torch.ones(2, n, dtype=torch.bool, device="cuda")
                            kpm[0, : max(1, n // 10)] = False
                            kpm[0, n - n // 4:] = False
                            kpm[1] = False
                        t, path = time.time(), None
                        try:
                            path = path_of(p, n, 2)
                            block = fused_block(q.device, dtype, n, 64)  # the block the dispatcher picks
                            if copies_split and global_copies.plan(p, n, n, 0, block, grad=True):
                                path += f"; global copies (kernels/global_copies.py, test SPLIT {copies_split})"
                            q64, k64, v64 = (x.detach().double().requires_grad_() for x in (q, k, v))
                            if p.data_dependent:  # route once; both kernels run the same pieces
                                state = {}  # anchor: a layer's anchors, so keys go through nearest() (the fused kernel)
                                if p.name == "anchor":
                                    a = torch.randn(2, p.n_anchors, 64, device="cuda", generator=g)
                                    state = {"anchors": torch.nn.functional.normalize(a, dim=-1)}
                                comps = p.route(q.detach(), k.detach(), **state)
                                out = flex_attention(q, k, v, comps, scale=0.125, key_padding_mask=kpm)[0]
                                ref = reference_attention(q64, k64, v64, comps, scale=0.125, key_padding_mask=kpm)[0]
                            else:
                                out = sparse_attention(q, k, v, p, backend="flex", key_padding_mask=kpm)
                                ref = sparse_attention(q64, k64, v64, p, backend="dense", key_padding_mask=kpm)
                            grads = torch.autograd.grad((out.float() * out.float()).sum(), (q, k, v))
                            rgrads = torch.autograd.grad((ref * ref).sum(), (q64, k64, v64))
                            err = _rel(out, ref)
                            gerr = max(_rel(a, b) for a, b in zip(grads, rgrads))
                            finite = (bool(torch.isfinite(out).all())
                                      and all(bool(torch.isfinite(x).all()) for x in grads))
                            status = "ok" if (finite and err < TOL[dt] and gerr < TOL[dt]) else "FAIL"
                            rows.append(dict(pattern=name, causal=causal, N=n, padded=padded, dtype=dt, layout=layout,
                                             path=path, fwd_rel_err=err, grad_rel_err=gerr, finite=finite,
                                             status=status, seconds=round(time.time() - t, 2)))
                        except Exception as e:  # record and keep going: one broken case must not hide others
                            rows.append(dict(pattern=name, causal=causal, N=n, padded=padded, dtype=dt, layout=layout,
                                             path=path, status="ERROR", error=repr(e)[:1500]))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="benchmarks/attention_correctness_h200.json")
    ap.add_argument("--lengths", default="1,7,128,257,1000")
    ap.add_argument("--dtypes", default="float32,bfloat16")
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--patterns", default="")
    ap.add_argument("--layout", choices=("contiguous", "projected"), default="contiguous",
                    help="q/k/v memory layout: contiguous (B, H, N, D) or the models' projection layout")
    ap.add_argument("--deadline", type=float, default=0, help="seconds; write what is done by then and stop")
    ap.add_argument("--joined-from", type=int, default=None,
                    help="run Sparse Transformer fixed joined (kernels/joined.py) from this many tokens instead of "
                         "its default MIN_TOKENS, so short cases check that path")
    ap.add_argument("--copies-split", type=int, default=None,
                    help="run Longformer's / BigBird's global copies (kernels/global_copies.py) with this SPLIT (a power "
                         "of two) from 2 x SPLIT tokens instead of 65,536, so short cases (a multiple of the block) "
                         "check that path")
    args = ap.parse_args(argv)
    if args.copies_split is not None and (args.copies_split < 1 or args.copies_split & (args.copies_split - 1)):
        ap.error(f"--copies-split must be a power of two >= 1, got {args.copies_split}")
    import torch
    from attention_cases import static_patterns
    names = args.patterns.split(",") if args.patterns else list(static_patterns()) + ["lsh", "anchor"]
    lengths = [int(x) for x in args.lengths.split(",")]
    dtypes = args.dtypes.split(",")
    t0 = time.time()
    # one job per (pattern, causal, length): compiles dominate, so spread them over many workers
    jobs = [([name], [n], dtypes, [c], args.layout, args.joined_from, args.copies_split)
            for n in sorted(lengths, reverse=True) for name in names for c in (False, True)]
    ctx = mp.get_context("spawn")
    rows = []
    pool = ctx.Pool(min(args.workers, len(jobs)))
    it = pool.imap_unordered(_worker, jobs)
    import triton
    while True:
        left = args.deadline - (time.time() - t0) if args.deadline else None
        try:
            rows += it.next(timeout=left) if left is None or left > 0 else it.next(timeout=0.01)
        except StopIteration:
            break
        except mp.TimeoutError:
            print(f"deadline reached after {time.time() - t0:.0f} s: writing the cases finished so far")
            break
        doc = {"command": "PYTHONPATH=$PWD python3 " + " ".join(sys.argv),
               "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "triton": triton.__version__,
               "tolerance_rel_to_fp64_dense": TOL, "wall_seconds": round(time.time() - t0, 1), "rows": rows}
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(doc, f, indent=1)
    pool.terminate()
    print(f"{'pattern':28s} {'dtype':9s} {'cases':>5s} {'max fwd err':>12s} {'max grad err':>12s} status")
    for name in names:
        for dt in dtypes:
            sel = [r for r in rows if r["pattern"] == name and r["dtype"] == dt]
            bad = [r for r in sel if r["status"] != "ok"]
            fe = max((r.get("fwd_rel_err", float("nan")) for r in sel), default=float("nan"))
            ge = max((r.get("grad_rel_err", float("nan")) for r in sel), default=float("nan"))
            status = "NOT RUN (deadline)" if not sel else ("ok" if not bad else f"{len(bad)} bad")
            print(f"{name:28s} {dt:9s} {len(sel):5d} {fe:12.2e} {ge:12.2e} {status}")
    errs = [r for r in rows if r["status"] == "ERROR"]
    for r in errs[:5]:
        print("ERROR", r["pattern"], r["causal"], r["N"], r["dtype"], r["error"][:300])
    missing = [n for n in names if not any(r["pattern"] == n for r in rows)]
    print(f"{sum(r['status'] == 'ok' for r in rows)} passed, {sum(r['status'] != 'ok' for r in rows)} failed"
          + (f"; not run: {', '.join(missing)}" if missing else ""))


if __name__ == "__main__":
    main()
