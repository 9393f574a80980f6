"""`zoo bench attention|generate`: run the benchmark scripts in tools/ and render their JSON."""
from __future__ import annotations

import argparse
import os
import runpy
import sys

_TOOLS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools")


def _device_us(e) -> float:
    return getattr(e, "device_time_total", getattr(e, "cuda_time_total", 0.0))


def top_kernels(prof, calls: int, top: int = 12) -> list[dict]:
    """The ``top`` ops of a torch.profiler run by GPU time (by own CPU time when nothing ran on a
    GPU), per call of the profiled region."""
    ev = list(prof.key_averages())
    cost = _device_us if any(_device_us(e) for e in ev) else (lambda e: e.self_cpu_time_total)
    ev.sort(key=lambda e: -cost(e))
    return [dict(name=e.key[:90], ms_per_call=cost(e) / (1e3 * calls), calls=e.count // calls) for e in ev[:top]]


def _kernels(prof) -> list:
    """The profile's GPU kernels, averaged by name (without the GPU spans of record_function marks)."""
    return [e for e in prof.key_averages() if _on_gpu(e)]


def _on_gpu(e) -> bool:
    """A GPU kernel or copy, not the GPU span of a ``record_function`` mark (``phase_mark``)."""
    from torch.autograd import DeviceType
    return getattr(e, "device_type", None) == DeviceType.CUDA and not getattr(e, "is_user_annotation", False)


def gpu_busy_ms(prof, calls: int) -> float:
    """GPU kernel time per call of the profiled region (kernels only, overlaps counted twice):
    next to the wall time it says whether a step waits on the GPU or on the host."""
    return sum(e.self_device_time_total for e in _kernels(prof)) / (1e3 * calls)


KERNEL_KINDS = (("communication", ("nccl",)), ("attention", ("flex_attention", "flash", "fmha")),
                ("matmul", ("gemm", "nvjet", "cutlass", "cublas", "sm90_xmma", "_mm")),
                ("optimizer", ("adam", "multi_tensor", "foreach")),
                ("copy", ("copy", "memcpy", "memset", "cat_", "index", "gather", "scatter", "transpose")),
                ("norm_elementwise", ("elementwise", "vectorized", "norm", "triton_", "reduce_kernel", "gelu")))


def kernel_kinds(prof, calls: int) -> dict[str, float]:
    """GPU kernel time per call by kind (communication, attention, matmul, optimizer, copy, norms
    and elementwise, other): what a low MFU spends its time on. A kernel's kind is the first whose
    name fragments it contains; compiled Triton kernels count as elementwise unless attention."""
    out = {kind: 0.0 for kind, _ in KERNEL_KINDS} | {"other": 0.0}
    for e in _kernels(prof):
        name = e.key.lower()
        kind = next((k for k, frags in KERNEL_KINDS if any(f in name for f in frags)), "other")
        out[kind] += e.self_device_time_total / (1e3 * calls)
    return {k: round(v, 2) for k, v in out.items()}


def top_gpu_kernels(prof, calls: int, top: int = 12) -> list[dict]:
    """The ``top`` GPU kernels by their own time per call (``top_kernels`` ranks ops, whose
    totals include their children)."""
    ev = sorted(_kernels(prof), key=lambda e: -e.self_device_time_total)
    return [dict(name=e.key[:90], ms_per_call=round(e.self_device_time_total / (1e3 * calls), 3),
                 calls=e.count // calls) for e in ev[:top]]


def _origin(e) -> str:
    """Where a CPU op came from: the backward node it runs in, else its innermost zoo frame
    (needs ``with_stack=True``), else its outermost parent op."""
    node, top = e.cpu_parent, e
    while node is not None and not getattr(node, "is_user_annotation", False):  # not the step phase marks
        if node.name.startswith("autograd::engine::evaluate_function: "):
            return node.name.split(": ", 1)[1]
        top, node = node, node.cpu_parent
    frames = [f for f in (getattr(e, "stack", None) or []) if "zoo/" in f]
    return frames[0].split("zoo/", 1)[1] if frames else top.name


def kernel_origins(prof, calls: int, top: int = 25) -> list[dict]:
    """GPU time per call by (op, origin): which line or backward node launches the copies, fills
    and adds that a low MFU spends its time on."""
    from torch.autograd import DeviceType
    cost: dict[tuple, list[float]] = {}
    for e in prof.events():
        t = getattr(e, "self_device_time_total", 0.0)
        if t and getattr(e, "device_type", None) == DeviceType.CPU:  # the op that launched kernels
            _tally(cost, (e.name, _origin(e)), t)
    return [dict(op=op[:60], origin=origin[:90], ms_per_call=ms, calls=n)
            for (op, origin), ms, n in _ranked(cost, calls, top)]


def copy_origins(prof, calls: int, top: int = 12) -> list[dict]:
    """GPU time per call of ``aten::copy_`` by (first input's shape, chain of parent ops), from a profile with
    ``record_shapes=True``: which tensor is copied and whether a compiled graph (``## Call
    CompiledFxGraph``) or the autograd wrapper around it (a gradient re-strided to the layout the
    graph traced) launched it."""
    from torch.autograd import DeviceType
    cost: dict[tuple, list[float]] = {}
    for e in prof.events():
        t = getattr(e, "self_device_time_total", 0.0)
        if t and e.name == "aten::copy_" and getattr(e, "device_type", None) == DeviceType.CPU:
            chain, node = [], e.cpu_parent
            while node is not None and len(chain) < 3 and not getattr(node, "is_user_annotation", False):
                chain.append(node.name[:48])
                node = node.cpu_parent
            shapes = getattr(e, "input_shapes", None) or []
            _tally(cost, (str(tuple(shapes[0])) if shapes else "", " < ".join(chain)), t)
    return [dict(shape=shape, chain=chain, ms_per_call=ms, calls=n) for (shape, chain), ms, n in _ranked(cost, calls, top)]


PHASE_NAMES = ("forward", "backward", "step")  # a training step's phases (tools/step_diagnostics.py)


def phase_mark(name: str) -> str:
    """The record_function name that marks a step phase in a profile."""
    return f"zoo::{name}"


def _ranked(cost: dict[tuple, list[float]], calls: int, top: int) -> list[tuple[tuple, float, float]]:
    """(key, ms per call, count per call) of the ``top`` keys by summed microseconds; cost maps a
    key to [microseconds, count]."""
    rows = sorted(cost.items(), key=lambda kv: -kv[1][0])[:top]
    return [(key, round(us / (1e3 * calls), 3), round(n / calls, 2)) for key, (us, n) in rows]


def _tally(cost: dict[tuple, list[float]], key: tuple, us: float) -> None:
    c = cost.setdefault(key, [0.0, 0])
    c[0] += us
    c[1] += 1


def gpu_idle(prof, calls: int, top: int = 15, min_us: float = 5.0) -> dict:
    """Time per call in which no GPU kernel runs, between the profile's first and last kernel
    (kernels on every stream merged), by step phase (``phase_mark``: the GPU span of each mark, else
    its host span) and by the op that launched the kernel ending each gap, with its origin (where
    this torch links kernels to ops). A starved GPU waits on the host; the op after a gap names
    what the host was doing instead of launching work. A profiler's own host overhead inflates
    these gaps: ``tools/step_diagnostics.host_vs_gpu`` measures a step without one."""
    from torch.autograd import DeviceType
    events = list(prof.events())
    kernels = sorted((e for e in events if _on_gpu(e)), key=lambda e: e.time_range.start)
    if not kernels:
        return {"idle_ms_per_call": 0.0, "span_ms_per_call": 0.0, "by_phase": {}, "by_next_op": []}
    # the launching op: a CPU op with kernels (profiler-internal events may reuse its id)
    ops = {e.id: e for e in events if e.device_type == DeviceType.CPU and getattr(e, "kernels", None)}
    marks = [e for e in events if e.name in {phase_mark(p) for p in PHASE_NAMES}]
    gpu_marks = [m for m in marks if m.device_type == DeviceType.CUDA]
    marks = gpu_marks or marks
    idle, by_phase, cost = 0.0, {}, {}
    busy_until = kernels[0].time_range.end
    for k in kernels[1:]:
        gap = k.time_range.start - busy_until
        if gap > 0:
            idle += gap
            t = k.time_range.start  # the phase whose kernel waited
            phase = next((m.name.split("::")[1] for m in marks if m.time_range.start <= t <= m.time_range.end), "between")
            by_phase[phase] = by_phase.get(phase, 0.0) + gap
            op = ops.get(getattr(k, "linked_correlation_id", 0))
            if gap >= min_us and op is not None:
                _tally(cost, (op.name, _origin(op), phase), gap)
        busy_until = max(busy_until, k.time_range.end)
    return {"idle_ms_per_call": round(idle / (1e3 * calls), 2),
            "span_ms_per_call": round((busy_until - kernels[0].time_range.start) / (1e3 * calls), 2),
            "by_phase": {k: round(v / (1e3 * calls), 3) for k, v in by_phase.items()},
            "by_next_op": [dict(op=op[:60], origin=origin[:90], phase=phase, ms_per_call=ms, gaps=n)
                           for (op, origin, phase), ms, n in _ranked(cost, calls, top)]}


def attention_markdown(doc: dict) -> str:
    """A markdown table of tools/bench_attention.py's JSON (the README's Speed section uses it)."""
    head = [f"Measured {doc['date']} on {doc['gpu']}, torch {doc['torch']}, triton {doc['triton']}.",
            "", f"Command: `{doc['command']}`", "",
            "| impl | pattern | N | B | density | fwd ms | fwd+bwd ms | useful TFLOP/s fwd+bwd | block TFLOP/s fwd+bwd "
            "| peak GiB | max rel err |", "|---|---|---|---|---|---|---|---|---|---|---|"]

    def f(x, nd=2):
        return "" if x is None else (f"{x:.{nd}f}" if isinstance(x, float) else str(x))
    def err(x):
        return "" if x is None else f"{x:.1e}"
    lines = []
    for r in doc["rows"]:
        if "profile" in r or "profile_error" in r:  # kernel lists go in the notes, not the table
            continue
        if "error" in r:
            lines.append(f"| {r.get('impl')} | {r.get('pattern', '')} | {r.get('N', '')} | | | error: "
                         f"{r['error'][:80].replace('|', '/')} | | | | | |")
            continue
        impl = r["impl"] + (f" ({r['path']})" if r.get("path") else "") + (f" vs {r['peer_of']}" if r.get("peer_of") else "")
        impl += " (superseded path)" if r.get("superseded") else ""
        lines.append(f"| {impl} | {r.get('pattern', '')} | "
                     f"{r.get('N', '')} | {r.get('B', '')} | {f(r.get('density'), 4)} | {f(r.get('fwd_ms'))} | "
                     f"{f(r.get('fwdbwd_ms'))} | {f(r.get('useful_tflops_fwdbwd'), 0)} | "
                     f"{f(r.get('block_tflops_fwdbwd'), 0)} | {f(r.get('peak_mem_gib'))} | "
                     f"{err(r.get('max_rel_err'))} |")
    return "\n".join(head + lines) + "\n"


def attention_runs_markdown(doc: dict) -> str:
    """All runs of a merged benchmarks/attention_h200.json, each with its conditions."""
    parts = [f"# Attention speed on {doc['gpu']}", "", f"torch {doc['torch']}, triton {doc['triton']}; {doc['shapes']}.",
             "Useful TFLOP/s count allowed token pairs only (4 x B x D x pairs forward, x3.5 forward+backward); "
             "block TFLOP/s count every tile the kernel computes.", ""]
    for i, run in enumerate(doc["runs"], 1):
        why = [f"**Timings not used in the summaries (noisy run):** {run['noisy']}"] if run.get("noisy") else []
        why += [f"**Rows marked superseded path, not used in the summaries:** {s}"
                for s in sorted({r["superseded"] for r in run["rows"] if r.get("superseded")})]
        parts += [f"## Run {i}: {run['path']} path", "", run["note"], "", *(line for w in why for line in (w, "")),
                  attention_markdown(dict(run, gpu=doc["gpu"], torch=doc["torch"], triton=doc["triton"]))]
    return "\n".join(parts)


def path_of(pattern, n: int = 16384, n_heads: int = 16) -> str:
    """Which GPU path the dispatcher takes for a pattern (or a class whose choice is fixed) on
    self-attention over n tokens (the choice can depend on the length: kernels/classes.py)."""
    from zoo.attention.kernels.joined import applies
    from zoo.attention.patterns import runs_fused
    if pattern.data_dependent:  # routed chunk bands in their sorted order (kernels/routed.py), session 20 on
        return "sorted"
    shape = None if isinstance(pattern, type) else (n, n, n_heads, 0)
    if runs_fused(pattern, shape):
        return "fused"
    joins = applies(pattern() if isinstance(pattern, type) else pattern, n, n, 0)  # a class: its defaults
    return "joined" if joins else "components"  # fixed's summary columns beside its keys, session 25


def current_path(name: str) -> str:
    """Which GPU path the dispatcher takes for a pattern family today, at the benchmark's 16k."""
    from zoo.attention import patterns
    cls = patterns.get_class(name)
    # a choice that depends on the parameters (a property): the defaults, which the benchmark uses
    return path_of(cls() if isinstance(cls.fused_flex, property) else cls)


def _numbered_timed_runs(doc: dict) -> list[tuple[int, dict]]:
    """(run number from 1, run) of the runs whose times the summaries use: not ``noisy``, less their rows
    of a path the dispatcher no longer takes (``superseded``: which, and why)."""
    return [(i, dict(run, rows=[r for r in run["rows"] if not r.get("superseded")])
             if any(r.get("superseded") for r in run["rows"]) else run)
            for i, run in enumerate(doc["runs"], 1) if not run.get("noisy")]


def _timed_runs(doc: dict) -> list[dict]:
    return [run for _, run in _numbered_timed_runs(doc)]


def latest(doc: dict, **match) -> tuple[dict, dict] | tuple[None, None]:
    """(row, run) of the last run holding a row that matches (later runs are newer code). A row's
    own "path" (runs that mixed paths) wins over its run's. Runs marked ``noisy`` (their own rows show
    the timings unreliable; the run says why) keep their checks and profiles but give no times here."""
    path = match.pop("path", None)
    for run in reversed(_timed_runs(doc)):
        for r in run["rows"]:
            if path is not None and r.get("path", run["path"]) != path:
                continue
            timed = not any(k in r for k in ("error", "profile", "profile_error"))  # profiles carry no times
            if timed and all(r.get(k) == v for k, v in match.items()):
                return r, run
    return None, None


def speed_summary(doc: dict, ns=(16384, 65536), goal: float = 200.0) -> str:
    """README table: per pattern and N, our newest measurement next to a plain FlexAttention mask."""
    lines = ["| pattern | N | zoo path | zoo fwd+bwd ms | plain mask_mod fwd+bwd ms | zoo useful TFLOP/s | "
             f"goal >= {goal:.0f} |", "|---|---|---|---|---|---|---|"]
    patterns = dict.fromkeys(r["pattern"] for run in doc["runs"] for r in run["rows"]
                             if r.get("impl") == "zoo" and "fwdbwd_ms" in r and r.get("N") in ns)
    for name in patterns:
        for n in ns:
            now = current_path(name)
            z, run = latest(doc, impl="zoo", pattern=name, N=n, path=now)
            label = now
            if z is None:  # only the path this pattern no longer takes was measured
                z, run = latest(doc, impl="zoo", pattern=name, N=n)
                label = f"{z.get('path', run['path'])} (now: {now}, not measured)" if run else ""
            if z is None:
                continue
            plain = next((r for r in run["rows"] if r.get("impl") == "flex_mask_mod" and r.get("pattern") == name
                          and r.get("N") == n), None)
            tf = z["useful_tflops_fwdbwd"]
            plain_ms = f"{plain['fwdbwd_ms']:.2f}" if plain else "–"
            lines.append(f"| {name} | {n:,} | {label} | {z['fwdbwd_ms']:.2f} | {plain_ms} | {tf:.0f} | "
                         f"{'yes' if tf >= goal else 'no'} |")
    for n in ns:  # dense FlashAttention for scale, newest run
        for r in filter(None, (latest(doc, impl="sdpa_dense", pattern=p, N=n)[0] for p in ("dense_causal", "dense"))):
            lines.append(f"| {r['pattern']} (SDPA) | {r['N']:,} | FlashAttention | {r['fwdbwd_ms']:.2f} | – | "
                         f"{r['useful_tflops_fwdbwd']:.0f} | |")
    return "\n".join(lines)


def peers_summary(doc: dict, last: int = 5) -> str:
    """README table: Hugging Face attention modules vs ours, same shapes: the newest run, and the range of
    the speed-up over the ``last`` runs holding both sides (both sides' times vary from run to run). The
    last two columns: ours as CUDA graphs (``*_graphed`` rows, the newest run holding them) against the
    peer's graphs where they capture, else the peer eager from that run."""
    lines = ["| peer | pattern | peer fwd+bwd ms (GiB) | zoo module fwd+bwd ms (GiB) | speed-up | "
             f"range over the last {last} runs (run numbers) | zoo module as CUDA graphs ms | speed-up, graphs |",
             "|---|---|---|---|---|---|---|---|"]

    def pick(run, impl, peer):  # a peer's own rows need not name it in peer_of
        return next((r for r in run["rows"] if r.get("impl") == impl and r.get("peer_of", impl) == peer
                     and "error" not in r), None)
    for peer in ("hf_longformer", "hf_bigbird", "hf_reformer"):
        pairs, graphs = [], None  # (run number, peer row, our row), newest first; (run, ours, theirs, graphed)
        for i, run in reversed(_numbered_timed_runs(doc)):
            p, z = pick(run, peer, peer), pick(run, "zoo_module", peer)
            if p and z:
                pairs.append((i, p, z))
            zg = pick(run, "zoo_module_graphed", peer)
            if graphs is None and zg and p:
                pg = pick(run, peer + "_graphed", peer)
                graphs = (i, zg, pg or p, pg is not None)
        if pairs:
            (i, p, z), recent = pairs[0], pairs[:max(last, 1)]
            ratios = [a["fwdbwd_ms"] / b["fwdbwd_ms"] for _, a, b in recent]
            graph_cols = "– | –"
            if graphs:
                gi, zg, theirs, both = graphs
                graph_cols = (f"{zg['fwdbwd_ms']:.2f} (run {gi}) | {theirs['fwdbwd_ms'] / zg['fwdbwd_ms']:.1f}x vs "
                              f"{'its graphs' if both else 'eager (no capture)'} {theirs['fwdbwd_ms']:.2f} ms")
            lines.append(f"| {peer} | {p['pattern']} | {p['fwdbwd_ms']:.2f} ({p['peak_mem_gib']:.2f}) | "
                         f"{z['fwdbwd_ms']:.2f} ({z['peak_mem_gib']:.2f}) | {ratios[0]:.1f}x (run {i}) | "
                         f"{min(ratios):.1f}-{max(ratios):.1f}x ({', '.join(str(n) for n, _, _ in recent)}) | "
                         f"{graph_cols} |")
    return "\n".join(lines)


def attention_plot(doc: dict, path: str, n: int = 16384) -> None:
    """Useful TFLOP/s forward+backward per pattern at one N: each run's zoo path vs a plain mask."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    series: dict[str, dict[str, float]] = {}
    for run in _timed_runs(doc):
        for r in run["rows"]:
            if r.get("N") == n and r.get("useful_tflops_fwdbwd") and r.get("impl") in ("zoo", "flex_mask_mod", "sdpa_dense"):
                label = {"zoo": f"zoo ({r.get('path', run['path'])})", "flex_mask_mod": "plain FlexAttention mask_mod",
                         "sdpa_dense": "SDPA (FlashAttention)"}[r["impl"]]
                series.setdefault(label, {})[r["pattern"]] = r["useful_tflops_fwdbwd"]
    pats = list(dict.fromkeys(p for s in series.values() for p in s))
    fig, ax = plt.subplots(figsize=(10, 4))
    width = 0.8 / max(len(series), 1)
    for k, (label, vals) in enumerate(series.items()):
        ax.bar([i + k * width for i in range(len(pats))], [vals.get(p, 0) for p in pats], width, label=label)
    ax.axhline(200, color="k", ls="--", lw=1, label="goal (static patterns)")
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(pats))], pats, rotation=20)
    ax.set_ylabel("useful TFLOP/s, fwd+bwd")
    ax.set_title(f"{doc['gpu']}, N = {n:,}, H = 16, D = 64, bf16")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def add_arguments(parser) -> None:
    parser.add_argument("what", choices=["attention", "generate"])
    parser.add_argument("rest", nargs=argparse.REMAINDER, help="arguments passed to tools/bench_<what>.py")


def run(args) -> int:
    script = os.path.join(_TOOLS, f"bench_{args.what}.py")
    if not os.path.exists(script):
        print(f"zoo bench: {script} is missing (run from a source checkout)", file=sys.stderr)
        return 2
    sys.argv = [script] + list(args.rest)
    runpy.run_path(script, run_name="__main__")
    return 0
