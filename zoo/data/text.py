"""enwik8 and text8: byte-level language modelling corpora (Hutter Prize data, Mahoney 2006;
the bits-per-character benchmark of Al-Rfou et al., 2019, Dai et al., 2019, Child et al., 2019),
`pydoc`: the English reference text every CPython ships (``pydoc_data.topics``, the pages
behind ``help('topics')``, ~0.5 MB), a real corpus on any machine for short runs and tests, and
`pystdlib`: the running CPython's standard-library sources (``Lib/**/*.py``, ~30 MB of code and
docstrings), big enough that a few GPU minutes do not memorise it (a small LM overfits pydoc's
0.5 MB within minutes on an H200: train 0.1 vs validation 3.6 bits/char).

Sources: `enwik8` (the first 10^8 bytes of an English Wikipedia XML dump,
http://mattmahoney.net/dc/enwik8.zip) and `text8` (the same text lower-cased to a-z and space,
http://mattmahoney.net/dc/text8.zip); either the raw file or its zip. The usual split is the
first 90M bytes for training, the next 5M for validation and the last 5M for test; we apply the
same 90% / 5% / 5% fractions, which is exactly 90M/5M/5M on the real 10^8-byte files.

Shards: fixed-size byte chunks, `bin` + `json` {"offset", "length"}. Chunk k of a split holds
bytes [k*C, (k+1)*C + 1): one byte of overlap, so a window of N+1 bytes can predict every byte of
the split except its very first exactly once even though windows never cross chunks.
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

from .shards import ShardSink, print_summary, write_index

SOURCES = {"enwik8": "http://mattmahoney.net/dc/enwik8.zip",
           "text8": "http://mattmahoney.net/dc/text8.zip",
           "pydoc": "CPython's pydoc_data.topics (ships with Python; no --src)",
           "pystdlib": "the running CPython's standard library, Lib/**/*.py (ships with Python; no --src)"}
CHUNK_SIZE = {"pydoc": 8192}  # a small corpus: small chunks, so each split has several shards


def pydoc_bytes() -> bytes:
    """CPython's pydoc topic pages, concatenated in key order (deterministic for a Python)."""
    from pydoc_data.topics import topics
    return "".join(topics[k] for k in sorted(topics)).encode("utf-8")


def pystdlib_bytes() -> bytes:
    """The standard library's .py files in path order, each after a ``# file: <path>`` line
    (deterministic for a Python version; installed packages in site-packages are left out)."""
    import sysconfig
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.rglob("*.py") if "site-packages" not in p.parts and "dist-packages" not in p.parts)
    return b"".join(b"# file: " + p.relative_to(root).as_posix().encode() + b"\n" + p.read_bytes() for p in files)


LOCAL = {"pydoc": pydoc_bytes, "pystdlib": pystdlib_bytes}  # corpora every Python ships: no --src
FRACTIONS = (("train", 0.90), ("val", 0.05), ("test", 0.05))


def read_corpus(src: str | os.PathLike, name: str) -> bytes:
    """The raw bytes of `name` from `src` (the file, its .zip, or a folder holding either)."""
    if name not in SOURCES:
        raise ValueError(f"unknown corpus {name!r}; choose from {sorted(SOURCES)}")
    if name in LOCAL:
        return LOCAL[name]()
    src = Path(src)
    candidates = [src] if src.is_file() else [src / name, src / f"{name}.zip"]
    for path in candidates:
        if path.is_file():
            if zipfile.is_zipfile(path):
                with zipfile.ZipFile(path) as zf:
                    if name not in zf.namelist():
                        raise FileNotFoundError(f"{path}: zip has no member {name!r}")
                    return zf.read(name)
            return path.read_bytes()
    raise FileNotFoundError(
        f"{name}: no {name} or {name}.zip at {src}. Download {SOURCES[name]} (no unzip needed) "
        "and pass the file or its folder as --src")


def split_bounds(n: int) -> dict[str, tuple[int, int]]:
    """{"train": (0, 0.9n), "val": (0.9n, 0.95n), "test": (0.95n, n)} in bytes."""
    bounds, start = {}, 0
    for split, frac in FRACTIONS:
        end = n if split == FRACTIONS[-1][0] else start + round(n * frac)
        bounds[split] = (start, end)
        start = end
    return bounds


def convert(src: str | os.PathLike | None, out: str | os.PathLike, name: str, limit: int | None = None,
            *, chunk_size: int | None = None, progress: bool | None = None) -> dict[str, Any]:
    """Corpus -> byte-chunk shards (at most `limit` chunks per split)."""
    data = read_corpus(src, name)
    chunk_size = chunk_size or CHUNK_SIZE.get(name, 65536)
    summaries = []
    for split, (start, end) in split_bounds(len(data)).items():
        n_chunks = max(1, -(-(end - start - 1) // chunk_size))  # ceil; the +1 overlap is shared
        if limit is not None:
            n_chunks = min(n_chunks, limit)
        # small shards for the 5M eval splits: exact-once splitting needs shards >= ranks x workers
        maxcount = 256 if split == "train" else max(1, min(8, n_chunks // 8))
        with ShardSink(out, split, maxcount=maxcount, total=n_chunks, desc=f"{name} {split}",
                       progress=progress) as sink:
            for k in range(n_chunks):
                lo = start + k * chunk_size
                hi = min(lo + chunk_size + 1, end)
                if hi - lo < 2:
                    break
                sink.write({"__key__": f"{k:06d}", "bin": data[lo:hi],
                            "json": {"offset": lo - start, "length": hi - lo}}, items=hi - lo - 1)
        summaries.append(sink.summary)
    index = write_index(out, name, summaries, chunk_size=chunk_size, total_bytes=len(data),
                        split_bytes={s: e - b for s, (b, e) in split_bounds(len(data)).items()},
                        source=SOURCES[name] if src is None else str(src))
    print_summary(index, out)
    return index
