"""CIFAR-10 (Krizhevsky, 2009, "Learning Multiple Layers of Features from Tiny Images").

Source: the "CIFAR-10 python version", https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz,
extracted to `cifar-10-batches-py/` with `data_batch_1` ... `data_batch_5` (train, 10,000 each)
and `test_batch` (10,000). Each batch is a Python 2 pickle of a dict with byte-string keys:
`b"data"` a (10000, 3072) uint8 array whose rows are the red, green and blue 32x32 planes in
row-major order, `b"labels"` a list of ints in 0..9, `b"filenames"` and `b"batch_label"`. We read
them with `safe_pickle` (dicts, lists, bytes, str, numbers, numpy arrays only).

Shards: one sample per image, `png` (32x32 RGB) + `json` {"label", "class", "filename"}.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .safe_pickle import safe_load
from .shards import ShardSink, print_summary, write_index

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SPLITS = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


def find_batches(src: str | os.PathLike) -> Path:
    """The folder holding the batches: `src` itself or its `cifar-10-batches-py/`."""
    src = Path(src)
    for folder in (src, src / "cifar-10-batches-py"):
        if all((folder / name).is_file() for names in SPLITS.values() for name in names):
            return folder
    wanted = [n for names in SPLITS.values() for n in names]
    missing = [n for n in wanted if not (src / n).is_file()
               and not (src / "cifar-10-batches-py" / n).is_file()]
    raise FileNotFoundError(
        f"CIFAR-10: {src} lacks {', '.join(missing)} (need {', '.join(wanted)}). Download the "
        f"python version from {URL}, extract it (tar xzf cifar-10-python.tar.gz) and pass "
        "--src cifar-10-batches-py")


def read_batch(path: str | os.PathLike) -> tuple[np.ndarray, list[int], list[str]]:
    """One batch -> (images uint8 (N, 32, 32, 3), labels, filenames), validated."""
    batch = safe_load(path)
    if not isinstance(batch, dict):
        raise ValueError(f"{path}: expected a dict, got {type(batch).__name__}")
    # Python 2 str keys load as bytes; accept str keys too (re-pickled copies)
    batch = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    data, labels = batch.get("data"), batch.get("labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != 3072:
        raise ValueError(f"{path}: 'data' must be a uint8 (N, 3072) array")
    if not isinstance(labels, list) or len(labels) != len(data):
        raise ValueError(f"{path}: 'labels' must be a list of {len(data)} ints")
    if any(not isinstance(y, int) or not 0 <= y < 10 for y in labels):
        raise ValueError(f"{path}: labels must be ints in 0..9")
    names = batch.get("filenames") or [f"{i}.png" for i in range(len(data))]
    names = [n.decode("latin1") if isinstance(n, bytes) else str(n) for n in names]
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # (N, 32, 32, 3) channel-last
    return np.ascontiguousarray(images), labels, names


def convert(src: str | os.PathLike, out: str | os.PathLike, limit: int | None = None, *,
            maxcount: int = 1000, progress: bool | None = None) -> dict[str, Any]:
    """Batches in `src` -> shards in `out` (at most `limit` images per split)."""
    folder = find_batches(src)
    summaries = []
    for split, names in SPLITS.items():
        total = min(limit, 10_000 * len(names)) if limit is not None else 10_000 * len(names)
        with ShardSink(out, split, maxcount=maxcount, total=total, desc=f"cifar10 {split}",
                       progress=progress) as sink:
            idx = 0
            for name in names:
                if limit is not None and idx >= limit:
                    break
                images, labels, files = read_batch(folder / name)
                for img, y, fname in zip(images, labels, files):
                    if limit is not None and idx >= limit:
                        break
                    sink.write({"__key__": f"{idx:06d}", "png": img,
                                "json": {"label": y, "class": CLASSES[y], "filename": fname}})
                    idx += 1
        summaries.append(sink.summary)
    index = write_index(out, "cifar10", summaries, classes=list(CLASSES), image_size=[32, 32],
                        source=str(folder))
    print_summary(index, out)
    return index
