"""Webdataset shard writing (the tar-of-samples format of Aizman et al., 2019, `webdataset`).

Every converter in `zoo.data` goes through `ShardSink`, so every shard on disk obeys one rule:
a sample is `__key__` plus files whose extension says how to decode them, and only extensions
that decode to data (never to code) are written: `png`/`jpg` images, `txt`, `json`, raw `bin`
and `npy` (saved with `allow_pickle=False`). Shards are untrusted input once they leave the
converter, so nothing here can ever emit a pickle.

Next to the shards each conversion writes `index.json`:

    {"dataset": "cifar10", "format": "zoo-shards/1",
     "splits": {"train": {"samples": 50000, "items": 50000, "skipped": 0, "bytes": ...,
                          "shards": [{"name": "train-000000.tar", "samples": 10000, "bytes": ...}]}},
     "meta": {...}}

`samples` counts tar samples; `items` counts what a pipeline yields from them (questions for
VQA, bytes for text, otherwise the samples themselves).
"""
from __future__ import annotations

import io
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

log = logging.getLogger(__name__)

INDEX_NAME = "index.json"
FORMAT = "zoo-shards/1"
# extension -> what a reader may do with it; anything else (pyd, pth, pickle, ...) is refused
ALLOWED_EXTENSIONS = ("png", "jpg", "txt", "json", "bin", "npy")


def _encode_png(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value)
        if not value.startswith(b"\x89PNG\r\n\x1a\n"):
            raise ValueError("png value is bytes but not a PNG file")
        return value
    from PIL import Image

    if isinstance(value, np.ndarray):
        if value.dtype != np.uint8 or value.ndim not in (2, 3):
            raise ValueError(f"png needs a uint8 (H, W[, C]) array, got {value.dtype} {value.shape}")
        value = Image.fromarray(value)
    if not isinstance(value, Image.Image):
        raise TypeError(f"cannot encode {type(value).__name__} as png")
    buf = io.BytesIO()
    value.save(buf, format="PNG", compress_level=1)  # level 1: 5x faster, ~10% larger
    return buf.getvalue()


def _encode_jpg(value: Any) -> bytes:
    # JPEGs are copied byte for byte from the source dataset: re-encoding would lose quality
    value = bytes(value)
    if not value.startswith(b"\xff\xd8"):
        raise ValueError("jpg value is not a JPEG file")
    return value


def _encode_txt(value: Any) -> bytes:
    if not isinstance(value, str):
        raise TypeError(f"txt needs str, got {type(value).__name__}")
    return value.encode("utf-8")


def _encode_json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _encode_bin(value: Any) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"bin needs bytes, got {type(value).__name__}")
    return bytes(value)


def _encode_npy(value: Any) -> bytes:
    arr = np.asarray(value)
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)  # object arrays raise here instead of pickling
    return buf.getvalue()


_ENCODERS = {"png": _encode_png, "jpg": _encode_jpg, "txt": _encode_txt, "json": _encode_json,
             "bin": _encode_bin, "npy": _encode_npy}


def encode_sample(sample: dict[str, Any]) -> dict[str, bytes | str]:
    """Turn `{"__key__": k, ext: value}` into bytes, refusing any extension not in the allow-list."""
    key = sample.get("__key__")
    if not isinstance(key, str) or not key or "." in key or "/" in key:
        # webdataset splits names at the first dot: a dotted key would split one sample in two
        raise ValueError(f"__key__ must be a non-empty str without '.' or '/', got {key!r}")
    out: dict[str, bytes | str] = {"__key__": key}
    for ext, value in sample.items():
        if ext == "__key__":
            continue
        if ext not in _ENCODERS:
            raise ValueError(f"refusing to write .{ext} in a shard: allowed are {ALLOWED_EXTENSIONS}")
        out[ext] = _ENCODERS[ext](value)
    return out


@dataclass
class SplitSummary:
    """What one split's conversion produced: the numbers behind index.json and the CLI summary."""

    split: str
    samples: int = 0
    items: int = 0
    skipped: int = 0
    bytes: int = 0
    shards: list[dict[str, Any]] = field(default_factory=list)

    def line(self) -> str:
        return (f"{self.split}: {self.samples} samples ({self.items} items) in {len(self.shards)} "
                f"shards, {self.skipped} skipped, {self.bytes / 1e6:.1f} MB")


class ShardSink:
    """`webdataset.ShardWriter` for one split, with a progress bar and per-shard counts.

    Shards are named `{split}-000000.tar`, ... in `out_dir`. Use as a context manager; `close()`
    returns the `SplitSummary`.
    """

    def __init__(self, out_dir: str | os.PathLike, split: str, *, maxcount: int = 10_000,
                 maxsize: float = 256e6, total: int | None = None, desc: str | None = None,
                 progress: bool | None = None):
        import webdataset as wds
        from tqdm.auto import tqdm

        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.summary = SplitSummary(split)
        self._counts: dict[str, int] = {}
        self._pattern = str(self.out_dir / f"{split}-%06d.tar")
        # mtime fixed: the same source converts to byte-identical shards
        self._writer = wds.ShardWriter(self._pattern, maxcount=maxcount, maxsize=maxsize, verbose=0,
                                       encoder=False, mtime=0.0)
        # progress=None: tqdm shows the bar only on a terminal
        self._bar = tqdm(total=total, desc=desc or split, unit="sample",
                         disable=None if progress is None else not progress, leave=False)
        self._closed = False

    def write(self, sample: dict[str, Any], items: int = 1) -> None:
        encoded = encode_sample(sample)
        self._writer.write(encoded)
        self._counts[self._writer.fname] = self._counts.get(self._writer.fname, 0) + 1
        self.summary.samples += 1
        self.summary.items += items
        self._bar.update(1)

    def skip(self, key: str, reason: str) -> None:
        """Record a source record that could not be converted (it is logged, never zero-filled)."""
        self.summary.skipped += 1
        log.warning("skipping %s/%s: %s", self.summary.split, key, reason)
        self._bar.update(1)

    def close(self) -> SplitSummary:
        if self._closed:
            return self.summary
        self._closed = True
        n_opened = self._writer.shard  # ShardWriter.close() deletes this attribute
        self._writer.close()
        self._bar.close()
        for i in range(n_opened):
            path = Path(self._pattern % i)
            n = self._counts.get(str(path), 0)
            if n == 0:  # ShardWriter opens its first shard eagerly, even when nothing follows
                path.unlink(missing_ok=True)
                continue
            size = path.stat().st_size
            self.summary.shards.append({"name": path.name, "samples": n, "bytes": size})
            self.summary.bytes += size
        stale = sorted(p.name for p in self.out_dir.glob(f"{self.summary.split}-*.tar")
                       if p.name not in {s["name"] for s in self.summary.shards})
        if stale:
            log.warning("%s: stale shards from an earlier conversion, not in index.json: %s",
                        self.out_dir, ", ".join(stale))
        return self.summary

    def __enter__(self) -> "ShardSink":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_jpeg(path: Path, sink: "ShardSink", key: str) -> bytes | None:
    """The file's bytes if it is a readable JPEG, else None after counting the skip on ``sink``
    (COCO and VQA v2 shards keep the original JPEG byte for byte)."""
    try:
        jpg = path.read_bytes()
    except OSError as exn:
        sink.skip(key, f"cannot read {path}: {exn}")
        return None
    if not jpg.startswith(b"\xff\xd8"):
        sink.skip(key, f"{path} is not a JPEG")
        return None
    return jpg


def write_index(out_dir: str | os.PathLike, dataset: str, summaries: Iterable[SplitSummary],
                **meta: Any) -> dict[str, Any]:
    """Write `index.json` (see module docstring) and return it."""
    splits = {}
    for s in summaries:
        d = asdict(s)
        splits[d.pop("split")] = d
    index = {"dataset": dataset, "format": FORMAT, "splits": splits, "meta": meta}
    path = Path(out_dir) / INDEX_NAME
    path.write_text(json.dumps(index, indent=1) + "\n")
    return index


def read_index(path: str | os.PathLike) -> dict[str, Any]:
    """Read `index.json` from a shard folder (or the file itself)."""
    path = Path(path)
    if path.is_dir():
        path = path / INDEX_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no {INDEX_NAME}; convert the dataset first with "
                                f"`zoo data convert DATASET --src ... --out {path.parent}`")
    index = json.loads(path.read_text())
    if index.get("format") != FORMAT:
        raise ValueError(f"{path}: format {index.get('format')!r}, expected {FORMAT!r}")
    return index


def shard_urls(folder: str | os.PathLike, split: str) -> list[str]:
    """The shard paths of one split, in order, from a folder's index.json."""
    folder = Path(folder)
    index = read_index(folder)
    if split not in index["splits"]:
        raise KeyError(f"{folder}: no split {split!r}; index.json has {sorted(index['splits'])}")
    return [str(folder / s["name"]) for s in index["splits"][split]["shards"]]


def print_summary(index: dict[str, Any], out_dir: str | os.PathLike) -> None:
    """The human summary a conversion ends with."""
    print(f"{index['dataset']} -> {out_dir}")
    for split, s in index["splits"].items():
        print(f"  {split}: {s['samples']} samples ({s['items']} items) in {len(s['shards'])} "
              f"shards, {s['skipped']} skipped, {s['bytes'] / 1e6:.1f} MB")
    print(f"  index: {Path(out_dir) / INDEX_NAME}")
