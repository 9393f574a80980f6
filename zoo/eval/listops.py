"""ListOps accuracy and confusion matrix.

Nangia & Bowman, "ListOps: A Diagnostic Dataset for Latent Tree Learning" (2018), as used by the
Long Range Arena (Tay et al., ICLR 2021): ten-way classification of the value (0-9) of a nested
MIN/MAX/MED/SM expression. LRA reports plain accuracy; the confusion matrix shows *how* a model
fails (e.g. collapsing to the majority answers of SM), which accuracy alone hides.
"""
from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from .likelihood import _device_of, _EvalMode

NUM_CLASSES = 10
MODEL_KEYS = ("input_ids", "attention_mask")


def confusion_matrix(
    predictions: Sequence[int], labels: Sequence[int], num_classes: int = NUM_CLASSES
) -> np.ndarray:
    """Counts (num_classes, num_classes): row = true class, column = predicted class."""
    p = np.asarray(predictions, dtype=np.int64).reshape(-1)
    t = np.asarray(labels, dtype=np.int64).reshape(-1)
    if p.shape != t.shape:
        raise ValueError(f"{p.size} predictions for {t.size} labels")
    for name, v in (("prediction", p), ("label", t)):
        if v.size and (v.min() < 0 or v.max() >= num_classes):
            raise ValueError(f"{name} outside [0, {num_classes}): {v.min()}..{v.max()}")
    return np.bincount(t * num_classes + p, minlength=num_classes**2).reshape(
        num_classes, num_classes
    )


def classification_scores(
    predictions: Sequence[int], labels: Sequence[int], num_classes: int = NUM_CLASSES
) -> dict:
    """Accuracy in [0, 100], per-class recall and the confusion matrix (as nested lists)."""
    cm = confusion_matrix(predictions, labels, num_classes)
    n = int(cm.sum())
    if n == 0:
        raise ValueError("no predictions to score")
    support = cm.sum(axis=1)
    per_class = {
        str(c): float(100.0 * cm[c, c] / support[c]) for c in range(num_classes) if support[c]
    }
    return {
        "accuracy": float(100.0 * np.trace(cm) / n),
        "per_class_accuracy": per_class,
        "confusion_matrix": cm.tolist(),
        "n": n,
    }


def predict_classes(
    model: torch.nn.Module,
    batches: Iterable[Mapping[str, torch.Tensor]],
    *,
    device: torch.device | str | None = None,
    id_key: str | None = None,
) -> tuple[list[int], list[int], list[Hashable]]:
    """Argmax predictions, labels and (when ``id_key`` is given) sample ids over all batches.

    Only ``input_ids`` and ``attention_mask`` go to the model, so the labels never leak into it.
    """
    device = _device_of(model, device)
    preds: list[int] = []
    labels: list[int] = []
    ids: list[Hashable] = []
    with _EvalMode(model):
        for batch in batches:
            inputs = {k: batch[k].to(device) for k in MODEL_KEYS if k in batch}
            logits = model(**inputs)["logits"]  # (B, classes)
            preds += logits.argmax(dim=-1).cpu().tolist()
            labels += torch.as_tensor(batch["labels"]).reshape(-1).tolist()
            if id_key is not None:
                ids += list(batch[id_key])
    return preds, labels, ids


def plot_confusion(
    matrix: np.ndarray | Sequence[Sequence[int]],
    path: str | Path,
    *,
    title: str = "ListOps confusion matrix",
    class_names: Sequence[str] | None = None,
) -> Path:
    """Save a heat map of the confusion matrix (rows normalised, raw counts written in cells)."""
    from matplotlib.figure import Figure  # no pyplot: no global backend or figure state

    cm = np.asarray(matrix)
    k = cm.shape[0]
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    rows = cm.sum(axis=1, keepdims=True)
    frac = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)
    fig = Figure(figsize=(0.55 * k + 2, 0.55 * k + 1.5))
    ax = fig.subplots()
    im = ax.imshow(frac, cmap="Blues", vmin=0.0, vmax=1.0)
    for i in range(k):
        for j in range(k):
            if cm[i, j]:
                ax.text(j, i, str(int(cm[i, j])), ha="center", va="center", fontsize=7,
                        color="white" if frac[i, j] > 0.5 else "black")
    ax.set_xticks(range(k), names)
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{title} (N={int(cm.sum())})")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path
