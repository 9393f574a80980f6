"""Per-layer attention-pattern schedules.

- ``same``: every layer gets the configured pattern.
- ``growing``: Longformer (Beltagy et al. 2020, §3.1) — window sizes grow linearly from the
  bottom layer to the top, and the top layers dilate the window on some heads.
- ``alternate``: Sparse Transformer (Child et al. 2019, §4.2) — layers alternate between the
  strided pattern's two halves: A1 (the previous ``stride`` positions) and A2 (every
  ``stride``-th position), instead of giving each layer their union.
- ``reformer``: Reformer (Kitaev et al. 2020) style mix — LSH attention on every ``every``-th
  layer, a local window on the others.

A schedule returns one pattern per layer; ``describe_schedule`` names them for ``zoo info``.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from ..attention import build
from ..attention.patterns import Pattern

SCHEDULES = ("same", "growing", "alternate", "reformer")


def _interp(lo: int, hi: int, i: int, n: int) -> int:
    return lo if n == 1 else round(lo + (hi - lo) * i / (n - 1))


def _growing(pattern: str, params: dict, depth: int, causal: bool, num_heads: int, *, min_window: int,
             max_window: int, dilated_layers: int = 0, dilation: int = 2, dilated_heads: int = 2) -> list[Pattern]:
    """Sliding windows of ``min_window`` .. ``max_window`` keys each side; the top
    ``dilated_layers`` use a dilated window on ``dilated_heads`` heads (Longformer's char-LM)."""
    if pattern not in ("sliding_window", "dilated_window", "longformer"):
        raise ValueError(f"schedule 'growing' needs sliding_window/dilated_window/longformer, not {pattern!r}")
    if not 0 <= dilated_heads <= num_heads:
        raise ValueError(f"dilated_heads must be in [0, num_heads={num_heads}], got {dilated_heads}")
    out = []
    for i in range(depth):
        w = _interp(min_window, max_window, i, depth)
        if pattern == "longformer":
            out.append(build("longformer", causal=causal, **{**params, "window": 2 * w}))
        elif i >= depth - dilated_layers and dilated_heads:
            # per-head dilation list: the last dilated_heads heads dilate (contiguous head groups)
            dil = [1] * (num_heads - dilated_heads) + [dilation] * dilated_heads
            out.append(build("dilated_window", causal=causal, left=w, right=0 if causal else w, dilation=dil))
        else:
            out.append(build("sliding_window", causal=causal, left=w, right=0 if causal else w))
    return out


def _alternate(pattern: str, params: dict, depth: int, causal: bool, max_len: int) -> list[Pattern]:
    """Strided A1 (a window of ``stride``) on even layers, A2 (every stride-th key) on odd ones."""
    if pattern != "strided":
        raise ValueError("schedule 'alternate' splits the strided pattern into A1/A2 layers; "
                         f"got pattern {pattern!r} (for fixed, use heads='split')")
    l = params["stride"]
    reach = -(-max_len // l)  # A2 reaches the whole sequence: max_len / stride keys each side
    a1 = build("sliding_window", causal=causal, left=l - 1, right=0 if causal else l - 1)
    a2 = build("dilated_window", causal=causal, left=reach, right=0 if causal else reach, dilation=l)
    return [a1 if i % 2 == 0 else a2 for i in range(depth)]


def _reformer(pattern: str, params: dict, depth: int, causal: bool, *, every: int = 2,
              local_window: int | None = None) -> list[Pattern]:
    """LSH on layers i % every == every - 1 (so the top layer is LSH), a local window elsewhere."""
    if pattern != "lsh":
        raise ValueError(f"schedule 'reformer' mixes local and LSH layers; pattern must be 'lsh', not {pattern!r}")
    lsh = build("lsh", causal=causal, **params)
    w = lsh.chunk if local_window is None else local_window
    local = build("sliding_window", causal=causal, left=w, right=0 if causal else w)
    return [lsh if i % every == every - 1 else local for i in range(depth)]


def layer_patterns(pattern: str, params: dict[str, Any], depth: int, *, causal: bool, max_len: int,
                   num_heads: int, schedule: str = "same", schedule_params: dict[str, Any] | None = None
                   ) -> list[Pattern]:
    """One pattern per layer for ``depth`` layers of sequences up to ``max_len`` tokens."""
    sp = dict(schedule_params or {})
    if schedule == "same":
        if sp:
            raise ValueError(f"schedule 'same' takes no schedule_params, got {sorted(sp)}")
        return [build(pattern, causal=causal, **params)] * depth
    if schedule == "growing":
        return _growing(pattern, params, depth, causal, num_heads, **sp)
    if schedule == "alternate":
        return _alternate(pattern, params, depth, causal, max_len, **sp)
    if schedule == "reformer":
        return _reformer(pattern, params, depth, causal, **sp)
    raise ValueError(f"unknown schedule {schedule!r}; choose from {SCHEDULES}")


def summarize(p: Pattern, top: bool = True) -> str:
    """Short description: nested patterns recursed, block layouts shown by shape, and
    ``causal`` shown only where it is set on the outermost pattern."""
    parts = []
    for f in dataclasses.fields(p):
        v = getattr(p, f.name)
        if f.name == "causal":
            if v and top:
                parts.append("causal")
            continue
        if isinstance(v, Pattern):
            v = summarize(v, top=False)
        elif isinstance(v, tuple) and v and all(isinstance(x, Pattern) for x in v):
            v = "[" + ", ".join(summarize(x, top=False) for x in v) + "]"
        elif f.name == "layout":
            v = "x".join(map(str, p.table().shape))
        else:
            v = repr(v)
        parts.append(f"{f.name}={v}")
    return f"{p.name}({', '.join(parts)})"


def describe_schedule(patterns: list[Pattern]) -> list[str]:
    """Human-readable pattern of each layer (runs of equal layers collapsed: 'layers 0-3: ...')."""
    out, start = [], 0
    for i in range(1, len(patterns) + 1):
        if i == len(patterns) or patterns[i] != patterns[start]:
            span = f"{start}" if i - 1 == start else f"{start}-{i - 1}"
            out.append(f"layers {span}: {summarize(patterns[start])}")
            start = i
    return out
