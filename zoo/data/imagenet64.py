"""Downsampled ImageNet 64x64 (Chrabaszcz, Loshchilov & Hutter, 2017, "A Downsampled Variant of
ImageNet as an Alternative to the CIFAR datasets"; the pixel-model benchmark of van den Oord et
al., 2016 and Child et al., 2019).

Source: the "npz" release from https://image-net.org/download-images.php (Downsampled ImageNet,
64x64): `Imagenet64_train_part1.zip` + `_part2.zip` extract to `train_data_batch_1.npz` ...
`train_data_batch_10.npz`, and `Imagenet64_val.zip` to `val_data.npz`. Each npz holds `data`, a
(N, 12288) uint8 array whose rows are the red, green and blue 64x64 planes (channel-major, like
CIFAR), and `labels`, 1-based class ids 1..1000 (train batches also carry `mean`). Loaded with
`allow_pickle=False`.

Shards: one sample per image, `png` (64x64 RGB) + `json` {"label": 0-based class}.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from .shards import ShardSink, print_summary, write_index

URL = "https://image-net.org/download-images.php"
SIDE = 64


def find_files(src: str | os.PathLike) -> dict[str, list[Path]]:
    """{"train": [train_data_batch_1.npz, ...] in numeric order, "val": [val_data.npz]}."""
    src = Path(src)
    train = sorted(src.glob("train_data_batch_*.npz"),
                   key=lambda p: int(re.sub(r"\D", "", p.stem) or 0))
    val = src / "val_data.npz"
    missing = ([] if train else ["train_data_batch_1.npz ... train_data_batch_10.npz"]) + \
              ([] if val.is_file() else ["val_data.npz"])
    if missing:
        raise FileNotFoundError(
            f"ImageNet 64x64: {src} lacks {', '.join(missing)}. Log in at {URL}, download "
            "'Downsampled ImageNet 64x64' (Imagenet64_train_part1.zip, Imagenet64_train_part2.zip, "
            "Imagenet64_val.zip), unzip them into one folder and pass it as --src")
    return {"train": train, "val": [val]}


def read_npz(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """One npz -> (images uint8 (N, 64, 64, 3), labels int64 (N,) 0-based), validated."""
    with np.load(path, allow_pickle=False) as f:
        if "data" not in f or "labels" not in f:
            raise ValueError(f"{path}: expected keys 'data' and 'labels', found {sorted(f.files)}")
        data, labels = f["data"], np.asarray(f["labels"]).astype(np.int64).reshape(-1)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * SIDE * SIDE:
        raise ValueError(f"{path}: 'data' must be uint8 (N, {3 * SIDE * SIDE}), got "
                         f"{data.dtype} {data.shape}")
    if len(labels) != len(data):
        raise ValueError(f"{path}: {len(labels)} labels for {len(data)} images")
    if len(labels) and (labels.min() < 1 or labels.max() > 1000):
        raise ValueError(f"{path}: labels must be the official 1-based ids 1..1000")
    images = data.reshape(-1, 3, SIDE, SIDE).transpose(0, 2, 3, 1)  # (N, 64, 64, 3)
    return images, labels - 1


def convert(src: str | os.PathLike, out: str | os.PathLike, limit: int | None = None, *,
            maxcount: int = 5000, progress: bool | None = None) -> dict[str, Any]:
    """npz files in `src` -> shards in `out` (at most `limit` images per split)."""
    files = find_files(src)
    summaries = []
    for split, paths in files.items():
        with ShardSink(out, split, maxcount=maxcount, total=limit, desc=f"imagenet64 {split}",
                       progress=progress) as sink:
            idx = 0
            for path in paths:
                if limit is not None and idx >= limit:
                    break
                images, labels = read_npz(path)
                for img, y in zip(images, labels):
                    if limit is not None and idx >= limit:
                        break
                    sink.write({"__key__": f"{idx:07d}", "png": np.ascontiguousarray(img),
                                "json": {"label": int(y)}})
                    idx += 1
        summaries.append(sink.summary)
    index = write_index(out, "imagenet64", summaries, image_size=[SIDE, SIDE], num_classes=1000,
                        source=[str(p) for ps in files.values() for p in ps])
    print_summary(index, out)
    return index
