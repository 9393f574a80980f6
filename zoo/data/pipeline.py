"""Webdataset pipelines for training and evaluation (webdataset 1.0; the pattern of open_clip's
`src/open_clip_train/data.py`).

- Training streams are resampled: each (rank, worker) draws shards with replacement, forever,
  and `with_epoch` cuts the stream into epochs of a known number of batches. The stream is
  split by node and by worker (webdataset 1.0 refuses several processes without an explicit
  `nodesplitter`). With `seed`, shard draws, shuffling and random windows/captions are
  deterministic per (seed, rank, worker, epoch).
- Evaluation streams are exact-once: no resampling, no shuffling; shards (or, with
  `eval_split="sample"`, samples) are dealt round-robin to the ranks x workers so every sample is
  yielded exactly once in total. Shard splitting needs at least ranks x workers shards to keep
  everyone busy; sample splitting balances exactly but every worker reads every shard.
- Broken samples go to a `SkipCounter` (logged, counted, dropped; never zero-filled); too many
  raise `DataSkipError`. `loader.skips` holds the counters.

    loader = make_loader("pixels", "data/cifar10", batch_size=16, train=True, split="train")
    for batch in loader: ...          # {"image": uint8 (B, 3, 32, 32)}
    loader.skips.summary()            # {"seen": ..., "skipped": ..., "fraction": ...}
"""
from __future__ import annotations

import math
import os
import random
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import webdataset as wds

from . import decode
from .shards import INDEX_NAME, read_index, shard_urls
from .skips import DataSkipError, SkipCounter

__all__ = ["make_loader", "DataSkipError", "SkipCounter", "KINDS", "DATASET_KINDS"]

KINDS = ("pixels", "bytes", "listops", "vqa", "caption")
DATASET_KINDS = {"cifar10": "pixels", "imagenet64": "pixels", "enwik8": "bytes", "text8": "bytes", "pydoc": "bytes",
                 "pystdlib": "bytes", "listops": "listops", "vqav2": "vqa", "coco": "caption"}  # easyvqa: vqa or caption
DEFAULT_SEQ_LEN = {"listops": 2000, "vqa": 32, "caption": 32}


def _worker_rng(seed: int | None, salt: int, epoch: int) -> random.Random:
    if seed is None:
        return random.Random()  # seeded from os.urandom
    rank, _, worker, _ = wds.utils.pytorch_worker_info()
    return random.Random(hash((seed, salt, rank, worker, epoch)))  # int tuples hash stably


class _Expand:
    """Stage: raw samples -> decoded items, counting good ones and routing errors to the handler."""

    def __init__(self, fn: Callable, skips: SkipCounter, seed: int | None):
        self.fn, self.skips, self.seed, self.epoch = fn, skips, seed, -1

    def __call__(self, src: Iterable[dict]) -> Iterator[dict]:
        self.epoch += 1
        rng = _worker_rng(self.seed, 1, self.epoch)
        for sample in src:
            try:
                items = self.fn(sample, rng)
            except Exception as exn:  # noqa: BLE001 - every decode failure is a broken sample
                exn.args = exn.args + (f"key={sample.get('__key__')!r} url={sample.get('__url__')!r}",)
                if self.skips.handler(exn):
                    continue
                raise
            self.skips.ok()
            yield from items


class _Shuffle:
    """Stage: a seeded shuffle buffer (webdataset's own reseeds from the clock in every worker).

    It starts yielding after `bufsize // 10` items and grows to `bufsize` by reading two items per
    item yielded, so the first batch does not wait for a full buffer.
    """

    def __init__(self, bufsize: int, seed: int | None, salt: int):
        self.bufsize, self.seed, self.salt, self.epoch = bufsize, seed, salt, -1

    def __call__(self, src: Iterable[Any]) -> Iterator[Any]:
        self.epoch += 1
        rng = _worker_rng(self.seed, self.salt, self.epoch)
        src = iter(src)
        initial = max(1, self.bufsize // 10)
        buf: list[Any] = []
        for x in src:
            buf.append(x)
            if len(buf) < self.bufsize:
                buf.extend(islice(src, 1))
            if len(buf) >= initial:
                i = rng.randrange(len(buf))
                buf[i], buf[-1] = buf[-1], buf[i]
                yield buf.pop()
        rng.shuffle(buf)
        yield from buf


class _SplitSamples:
    """Stage: keep every (ranks x workers)-th sample, offset by this (rank, worker)."""

    def __call__(self, src: Iterable[Any]) -> Iterator[Any]:
        rank, world, worker, workers = wds.utils.pytorch_worker_info()
        yield from islice(src, rank * workers + worker, None, world * workers)


class _FinalCheck:
    """Stage: after an eval stream ends, apply the skip budget to whatever was seen."""

    def __init__(self, skips: SkipCounter):
        self.skips = skips

    def __call__(self, src: Iterable[Any]) -> Iterator[Any]:
        yield from src
        self.skips.check(final=True)


def _resolve(urls: Any, split: str | None, train: bool) -> tuple[list[str] | str, dict | None]:
    """Shard folder (+ split) or brace pattern / list -> (urls, index.json or None)."""
    if isinstance(urls, (str, os.PathLike)) and Path(urls).is_dir():
        index = read_index(urls)
        if split is None:
            names = index["splits"]
            split = "train" if train else next((s for s in ("val", "test") if s in names), None)
            if split is None:
                raise KeyError(f"{urls}: pass split=, index.json has {sorted(names)}")
        return shard_urls(urls, split), {**index, "split": split}
    first = urls if isinstance(urls, str) else list(urls)[0]
    first = next(iter(wds.shardlists.expand_urls(first))) if isinstance(first, str) else first
    index_path = Path(os.fspath(first)).parent / INDEX_NAME
    index = read_index(index_path) if index_path.is_file() else None
    if index is not None and split is not None:
        index = {**index, "split": split}
    return (urls if isinstance(urls, str) else [os.fspath(u) for u in urls]), index


def _epoch_items(kind: str, index: dict | None, seq_len: int) -> int | None:
    if index is None or index.get("split") not in index["splits"]:
        return None
    s = index["splits"][index["split"]]
    if kind == "bytes":
        return s["items"] // seq_len
    return s["items"] if kind == "vqa" else s["samples"]


def make_decoder(kind: str, train: bool, seq_len: int, index: dict | None, *,
                 image_size: int | None = None, answers: Sequence[str] | None = None,
                 add_cls: bool = False, augment: str | None = None) -> Callable:
    """The per-sample decoder of one kind (see zoo.data.decode for the items it makes);
    ``augment`` (vqa only) applies to training items."""
    if augment is not None and kind != "vqa":
        raise ValueError(f"augment is only available for kind 'vqa', not {kind!r}")
    meta = (index or {}).get("meta", {})
    if kind == "pixels":  # image_size: resize to this side (None: the shards' own size)
        return decode.PixelDecoder(meta.get("image_size"), resize=image_size)
    if kind == "bytes":
        return decode.ByteWindows(seq_len, train)
    if kind == "listops":
        return decode.ListOpsDecoder(seq_len, add_cls)
    if image_size is None:  # easy-VQA keeps its native 64x64; COCO photos need one size
        image_size = (meta.get("image_size") or [224])[0]
    if kind == "vqa":
        answers = answers if answers is not None else meta.get("answers")
        if not answers:
            raise ValueError("vqa needs an answer vocabulary: pass answers= or use shards whose "
                             "index.json has meta.answers")
        return decode.VQADecoder(answers, seq_len, image_size, augment if train else None)
    if kind == "caption":
        return decode.CaptionDecoder(seq_len, image_size, train)
    raise ValueError(f"unknown kind {kind!r}; choose from {KINDS} or {sorted(DATASET_KINDS)}")


def make_loader(kind: str, urls: Any, batch_size: int, train: bool, seq_len: int | None = None, *,
                split: str | None = None, num_workers: int = 0, seed: int | None = None,
                epoch_batches: int | None = None, shuffle_buffer: int = 500,
                image_size: int | None = None, answers: Sequence[str] | None = None,
                add_cls: bool = False, augment: str | None = None, max_skip_fraction: float = 0.01,
                check_after: int = 100,
                eval_split: str = "shard", pin_memory: bool = False,
                multiprocessing_context: str | None = None) -> wds.WebLoader:
    """A loader of batch dicts over shards (see module docstring and zoo.data.decode).

    kind: "pixels", "bytes", "listops", "vqa", "caption" (or a dataset name with one kind).
    urls: a shard folder with index.json (+ `split`), a brace pattern or a list of tar paths.
    seq_len: window length (bytes), padded length (listops), question / caption tokens.
    epoch_batches: batches per rank per epoch when training; default from index.json's
    counts, or an endless stream when unknown. Eval loaders always yield one pass.
    seed: makes training draws reproducible per (seed, rank, worker, epoch); workers are
    persistent when training so their epoch counters survive between epochs.
    shuffle_buffer: raw samples held for shuffling (items of VQA/bytes get a second small one).
    augment: vqa training images, None or "dihedral" (zoo.data.decode.dihedral).
    max_skip_fraction, check_after: the broken-sample budget (see zoo.data.skips).
    eval_split: "shard" (deal shards) or "sample" (deal samples; balanced, reads every shard).
    multiprocessing_context: the workers' start method ("fork", "spawn", ...), also used for
    the shared skip counters.
    Returns a `webdataset.WebLoader` with `.skips` (SkipCounter) and `.epoch_batches`.
    """
    kind = DATASET_KINDS.get(kind, kind)
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; choose from {KINDS} or {sorted(DATASET_KINDS)}")
    if seq_len is None:
        if kind == "bytes":
            raise ValueError("byte-level LM data needs seq_len (the window length N)")
        seq_len = DEFAULT_SEQ_LEN.get(kind, 0)
    if eval_split not in ("shard", "sample"):
        raise ValueError(f"eval_split must be 'shard' or 'sample', got {eval_split!r}")
    urls, index = _resolve(urls, split, train)
    skips = SkipCounter(max_skip_fraction, check_after, name=f"{kind} {'train' if train else 'eval'}",
                        context=multiprocessing_context)
    decoder = make_decoder(kind, train, seq_len, index, image_size=image_size, answers=answers,
                           add_cls=add_cls, augment=augment)

    by_sample = not train and eval_split == "sample"
    ds = wds.WebDataset(
        urls, resampled=train, shardshuffle=False, handler=skips.handler, empty_check=False,
        nodesplitter=None if by_sample else wds.split_by_node,
        workersplitter=None if by_sample else wds.split_by_worker)
    if train and seed is not None:
        # WebDataset builds its resampler without a seed; swap in a deterministic one
        ds.pipeline[0] = wds.ResampledShards(urls, seed=seed, deterministic=True)
    if by_sample:
        ds = ds.compose(_SplitSamples())
    if train:  # shuffle raw samples (cheap bytes), then the items of multi-item samples
        ds = ds.compose(_Shuffle(shuffle_buffer, seed, salt=2))
    ds = ds.compose(_Expand(decoder, skips, seed))
    if train and kind in ("vqa", "bytes"):  # questions of one image / windows of one chunk
        ds = ds.compose(_Shuffle(max(64, 4 * batch_size), seed, salt=3))
    ds = ds.batched(batch_size, collation_fn=decode.collate, partial=not train)
    if not train:
        ds = ds.compose(_FinalCheck(skips))
    elif epoch_batches is None:
        items = _epoch_items(kind, index, seq_len)
        if items is not None:
            world = wds.utils.pytorch_worker_info()[1]
            epoch_batches = max(1, math.ceil(items / (batch_size * world)))
    if train and epoch_batches is not None:
        ds = ds.with_epoch(math.ceil(epoch_batches / max(1, num_workers)))

    loader = wds.WebLoader(ds, batch_size=None, shuffle=False, num_workers=num_workers,
                           persistent_workers=train and num_workers > 0, pin_memory=pin_memory,
                           multiprocessing_context=multiprocessing_context if num_workers else None)
    loader.skips = skips
    loader.epoch_batches = epoch_batches if train else None
    loader.kind = kind
    return loader
