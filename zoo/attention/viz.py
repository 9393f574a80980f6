"""Pictures of attention patterns: one token mask, or the survey's comparison panels.

Rows are queries i, columns keys j, a coloured cell means "i attends to j". The comparison figure
follows the seed survey's Figures 1-3: full, sliding, dilated, global+sliding (Longformer,
Beltagy et al. 2020), BigBird's random / window / global parts and their union (Zaheer et al.
2020), Sparse Transformer strided and fixed (Child et al. 2019), and Reformer LSH (Kitaev et al.
2020) before and after sorting by bucket. Data-dependent patterns are drawn on random inputs.
Uses matplotlib's object API (no pyplot), so it runs headless and leaves no global state.
"""
from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .patterns import Pattern, build

ALLOWED = "#1f4e79"  # navy: the pattern's cells
COLOURS = {"window": "#2e75b6", "global": "#2e9e5b", "random": "#e07b24"}  # BigBird's parts


# --- masks ---------------------------------------------------------------------------------------
def _lsh_fallback(p: Pattern, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Reformer's band for one hash round, hashed here because routing.py cannot route yet:
    random unit vectors, a seeded random-rotation hash (argmax over [xR, -xR]), stable sort by
    (bucket, position), attend own + previous chunk of the sorted order, self only when alone.
    Returns (mask (1, n, n) in original order, order (1, n) sorted positions)."""
    gen = torch.Generator().manual_seed(getattr(p, "seed", 0))
    x = F.normalize(torch.randn(n, 32, generator=gen), dim=-1)
    n_buckets = max(2, 2 * (n // p.bucket_size // 2))
    xr = x @ torch.randn(32, n_buckets // 2, generator=gen)
    bucket = torch.cat([xr, -xr], dim=-1).argmax(-1)
    order = torch.argsort(bucket * n + torch.arange(n))  # (n,) original position of sorted slot t
    c = torch.arange(n) // p.chunk
    back = c[:, None] - c[None, :]
    ok = ((back == 0) | (back == 1)) & ~torch.eye(n, dtype=torch.bool)
    if p.causal:
        ok &= order[None, :] <= order[:, None]
    ok |= torch.eye(n, dtype=torch.bool) & ~ok.any(-1, keepdim=True)  # no self unless alone
    mask = torch.zeros(n, n, dtype=torch.bool)
    mask[order[:, None], order[None, :]] = ok
    return mask[None], order[None]


def _permutation(pos: torch.Tensor, n: int) -> torch.Tensor:
    """A full permutation from sorted positions that may be padded (-1) or repeat."""
    seen, out = set(), []
    for p in pos.tolist() + list(range(n)):
        if 0 <= p < n and p not in seen:
            seen.add(p)
            out.append(p)
    return torch.tensor(out)


@torch.no_grad()
def _routed_mask(p: Pattern, n: int, n_heads: int | None) -> tuple[torch.Tensor, torch.Tensor, str]:
    """Which keys each query reaches on random inputs: attention with v = I gives the weights.
    Returns (mask (H, n, n), order (H, n) of the first routing round, note)."""
    from .attention import sparse_attention
    from .routing import make_router
    H = n_heads or 1
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(1, H, n, n, generator=gen, dtype=torch.float64)  # head dim n: v = I fits
    k = F.normalize(q, dim=-1) if p.name == "lsh" else torch.randn(1, H, n, n, generator=gen, dtype=q.dtype)
    try:
        router = make_router(p, H, n)
        if router is not None:
            router.eval()
        state = router(q, k) if router is not None else {}
        comps = p.route(q, k, k_start=0, **state)
    except NotImplementedError:
        if p.name != "lsh":
            raise ValueError(f"{p.name} routing is not implemented yet, so it cannot be drawn") from None
        mask, order = _lsh_fallback(p, n)
        return mask, order, "illustrative hash: routing.py pending"
    eye = torch.eye(n, dtype=q.dtype).expand(1, H, n, n)
    mask = sparse_attention(q, k, eye, p, backend="reference", **state)[0] > 0  # (H, n, n)
    pos = next((c.q_pos for c in comps if c.q_pos is not None and c.q_pos.dim() == 3), None)
    if pos is None:
        order = torch.arange(n).expand(H, n)
    else:
        pos = pos.expand(1, H, pos.shape[-1])[0]
        order = torch.stack([_permutation(pos[h], n) for h in range(H)])
    return mask, order, "random inputs"


def pattern_mask(pattern: Pattern, length: int, n_heads: int | None = None,
                 sort: bool = True) -> tuple[torch.Tensor, str]:
    """Bool (H, length, length) to draw and a note; data-dependent ones routed on random inputs
    and, with ``sort``, shown in the sorted (bucket / cluster) order of the first round."""
    pattern.validate_length(length)
    if not pattern.data_dependent:
        return pattern.token_mask(length, n_heads=n_heads), ""
    mask, order, note = _routed_mask(pattern, length, n_heads)
    if sort:
        mask = torch.stack([m[o][:, o] for m, o in zip(mask, order)])
    return mask, note


# --- drawing -------------------------------------------------------------------------------------
def _rgb(layers: list[tuple[np.ndarray, str]]) -> np.ndarray:
    """White image with each (share in [0, 1] per cell, colour) layer painted over it."""
    from matplotlib.colors import to_rgb
    img = np.ones(layers[0][0].shape + (3,))
    for share, colour in layers:
        f = share[..., None]
        img = img * (1 - f) + np.asarray(to_rgb(colour)) * f
    return img


def _paint(ax: Axes, layers: list[tuple[np.ndarray, str]], title: str, axis_label: str | None = None) -> None:
    """Show the layers; axis_label None: no axis labels, else a suffix for them (" (sorted)")."""
    n_q, n_k = layers[0][0].shape
    ax.imshow(_rgb(layers), interpolation="nearest", aspect="equal")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([0, n_k - 1])
    ax.set_yticks([0, n_q - 1])
    ax.tick_params(labelsize=7, length=2)
    for side in ax.spines.values():
        side.set_color("#999999")
    if axis_label is not None:
        ax.set_xlabel(f"key j{axis_label}", fontsize=8)
        ax.set_ylabel(f"query i{axis_label}", fontsize=8)


def _title(label: str, kind: str, density: float, note: str = "") -> str:
    title = f"{label}\n{kind} · density {density:.1%}"
    return f"{title}\n" + "\n".join(textwrap.wrap(f"({note})", 60)) if note else title


def draw_mask(pattern: Pattern, length: int, n_heads: int | None = None, ax: Axes | None = None,
              head: int | None = None) -> Figure:
    """Draw ``pattern``'s token mask at ``length`` tokens. Several distinct heads (split heads,
    per-head dilation) are overlaid with shade = share of heads, unless ``head`` picks one."""
    mask, note = pattern_mask(pattern, length, n_heads)
    if pattern.data_dependent:
        what = "bucket" if pattern.name == "lsh" else "cluster"
        rounds = getattr(pattern, "n_hashes", 1)
        note = f"sorted by {what}" + (f" of round 1 of {rounds}" if rounds > 1 else "") + f"; {note}"
    if head is not None:
        if not 0 <= head < mask.shape[0]:
            raise ValueError(f"head must be in [0, {mask.shape[0] - 1}] for {pattern.name}, got {head}")
        mask = mask[head:head + 1]
        note = ", ".join(x for x in (note, f"head {head}") if x)
    elif mask.shape[0] > 1:
        note = ", ".join(x for x in (note, f"{mask.shape[0]} heads, shade = share of heads") if x)
    share = mask.double().mean(0).numpy()
    fig = ax.figure if ax is not None else Figure(figsize=(5, 5.4), layout="constrained")
    ax = ax if ax is not None else fig.add_subplot()
    label = "\n".join(textwrap.wrap(pattern.describe(), 56, break_long_words=False)[:3])
    _paint(ax, [(share, ALLOWED)], _title(label, pattern.kind, mask.double().mean().item(), note),
           " (sorted)" if pattern.data_dependent else "")
    return fig


def compare_figure(length: int = 64) -> Figure:
    """The survey's comparison panels at ``length`` tokens, in one figure (3 x 4)."""
    if length < 16:
        raise ValueError(f"length must be >= 16 for the comparison figure, got {length}")
    w = max(1, length // 16)  # half window, BigBird block
    s = max(2, math.isqrt(length))  # Sparse Transformer stride: one row of a square raster
    fig = Figure(figsize=(13, 11), layout="constrained")
    axes = fig.subplots(3, 4).flatten()
    fig.suptitle(f"Sparse attention patterns at N = {length} (rows: queries i, columns: keys j; "
                 f"coloured: i attends to j)", fontsize=11)

    def panel(ax, p: Pattern, label: str, sort: bool = True):
        mask, note = pattern_mask(p, length, sort=sort)
        _paint(ax, [(mask.double().mean(0).numpy(), ALLOWED)],
               _title(label, p.kind, mask.double().mean().item(), note))

    panel(axes[0], build("dense"), "full (dense)")
    panel(axes[1], build("sliding_window", left=w, right=w), f"sliding window (±{w})")
    panel(axes[2], build("dilated_window", left=w, right=w, dilation=2), f"dilated window (±{w} keys, r=2)")
    panel(axes[3], build("longformer", window=2 * w, global_tokens=2),
          f"global + sliding (Longformer, w={2 * w}, 2 global)")

    bb = build("bigbird", block=w, window_blocks=3, global_blocks=2, random_blocks=2)
    full = bb.token_mask(length)[0]
    qb, kb = torch.arange(length)[:, None] // w, torch.arange(length)[None, :] // w
    parts = {"window": (qb - kb).abs() <= 1, "global": (qb < 2) | (kb < 2)}
    parts["random"] = full & ~parts["window"] & ~parts["global"]
    for ax, name in zip(axes[4:7], ("random", "window", "global")):
        m = parts[name].double().numpy()
        _paint(ax, [(m, COLOURS[name])], _title(f"BigBird {name} (block {w})", "part of hybrid", m.mean()))
    _paint(axes[7], [(parts[n].double().numpy(), COLOURS[n]) for n in ("random", "window", "global")],
           _title("BigBird combined (all three parts)", bb.kind, full.double().mean().item()))

    panel(axes[8], build("strided", stride=s, causal=True), f"Sparse Transformer strided (l={s}, causal)")
    panel(axes[9], build("fixed", stride=s, summary=max(1, s // 4), causal=True),
          f"Sparse Transformer fixed (l={s}, c={max(1, s // 4)}, causal)")
    lsh = build("lsh", bucket_size=length // 8, chunk=length // 8, n_hashes=1)
    panel(axes[10], lsh, f"LSH, original order (chunk {length // 8})", sort=False)
    panel(axes[11], lsh, f"LSH buckets after sorting (chunk {length // 8})")
    for ax in axes[::4]:
        ax.set_ylabel("query i", fontsize=8)
    for ax in axes[8:]:
        ax.set_xlabel("key j" if ax is not axes[11] else "key j (sorted)", fontsize=8)
    axes[11].set_ylabel("query i (sorted)", fontsize=8)
    return fig


def save(fig: Figure, path: str | Path, dpi: int = 120) -> Path:
    """Write ``fig`` as an image (format from the suffix), creating parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight", pad_inches=0.15)
    return path


__all__ = ["compare_figure", "draw_mask", "pattern_mask", "save"]
