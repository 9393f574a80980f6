"""Pictures that go with an evaluation: a grid of samples (pixel models) and a contact sheet of
test images with their predictions and references (captioning, VQA).

Numbers hide failure modes a glance shows (a captioner repeating one sentence, a pixel model
producing mush), so reports carry a picture next to the table. Only the object-oriented
matplotlib API is used (no pyplot), so nothing depends on a display or global figure state.
"""
from __future__ import annotations

import math
import textwrap
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch


def _hwc(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """uint8 (3, H, W) or (H, W, 3) -> (H, W, 3) numpy for imshow."""
    a = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3):
        a = a.transpose(1, 2, 0)
    return a.squeeze(-1) if a.shape[-1] == 1 else a


def tap_images(
    batches: Iterable[Mapping], store: dict, n: int, id_key: str
) -> Iterator[Mapping]:
    """Pass batches through unchanged, keeping the first ``n`` distinct images in ``store``
    (keyed by the id of the first sample showing each one).

    Lets the report show test images without reading the split a second time. VQA batches repeat
    an image for each of its questions; identical images are kept once.
    """
    for batch in batches:
        if len(store) < n and "image" in batch and id_key in batch:
            ids = batch[id_key]
            ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
            for k, img in zip(ids, batch["image"]):
                if len(store) >= n:
                    break
                img = img.detach().cpu()
                if not any(v.shape == img.shape and torch.equal(v, img) for v in store.values()):
                    store[k] = img
        yield batch


def image_sheet(
    images: Mapping[Hashable, torch.Tensor],
    texts: Mapping[Hashable, str],
    path: str | Path,
    *,
    cols: int = 4,
    title: str | None = None,
    width: int = 34,
) -> Path:
    """A contact sheet: each image with its text (prediction / reference) underneath."""
    from matplotlib.figure import Figure

    keys = list(images)
    if not keys:
        raise ValueError("no images for the sheet")
    cols = min(cols, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig = Figure(figsize=(3.0 * cols, 3.6 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols)).reshape(-1)
    for ax in axes:
        ax.axis("off")
    for ax, k in zip(axes, keys):
        ax.imshow(_hwc(images[k]), interpolation="nearest")
        text = "\n".join(textwrap.fill(t, width) for t in texts.get(k, "").split("\n"))
        ax.set_title(text, fontsize=7, loc="left")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def sample_grid(
    images: torch.Tensor, path: str | Path, *, nrow: int = 8, title: str | None = None
) -> Path:
    """Grid of generated images, uint8 (N, 3, H, W), 2-pixel white borders."""
    from matplotlib.figure import Figure

    x = images.detach().cpu()
    if x.dtype != torch.uint8:
        raise ValueError(f"expected uint8 images, got {x.dtype}")
    n, c, h, w = x.shape
    nrow = min(nrow, n)
    rows = math.ceil(n / nrow)
    pad = 2
    canvas = torch.full((c, rows * (h + pad) + pad, nrow * (w + pad) + pad), 255, dtype=torch.uint8)
    for i in range(n):
        r, col = divmod(i, nrow)
        y0, x0 = pad + r * (h + pad), pad + col * (w + pad)
        canvas[:, y0 : y0 + h, x0 : x0 + w] = x[i]
    inch = 1.2 / max(h, w)  # each image ~1.2 inches whatever its resolution
    fig = Figure(figsize=(max(4.0, canvas.shape[2] * inch), canvas.shape[1] * inch + 0.5))
    ax = fig.subplots()
    ax.imshow(_hwc(canvas), interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def caption_texts(records: Mapping[Hashable, Mapping], keys: Sequence[Hashable]) -> dict:
    """Sheet text for captioning records: the prediction, then the first reference."""
    out = {}
    for k in keys:
        r = records.get(k)
        if r is not None:
            ref = r["references"][0] if r["references"] else ""
            out[k] = f"pred: {r['caption']}\nref: {ref}"
    return out


def vqa_texts(records: Mapping[Hashable, Mapping], keys: Sequence[Hashable]) -> dict:
    """Sheet text for VQA records: question (if kept), prediction and the answers."""
    out = {}
    for k in keys:
        r = records.get(k)
        if r is not None:
            answers = r["answers"] if isinstance(r["answers"], str) else ", ".join(
                sorted(set(r["answers"])))
            q = f"Q: {r['question']}\n" if r.get("question") else ""
            out[k] = f"{q}pred: {r['prediction']}\ngt: {answers}"
    return out
