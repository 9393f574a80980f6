"""Datasets: real formats in, webdataset shards out, pipelines of batch dicts back in.

    raw files --(cifar10 | imagenet64 | text | coco | vqav2 | easyvqa | listops).convert-->
    shards + index.json --(pipeline.make_loader)--> batch dicts for `model(**batch)`

`shards` is the only writer (allow-listed extensions, never pickle), `safe_pickle` the only way a
pickle is read (CIFAR-10's batches), `decode` the per-modality decoding, `skips` the accounting
of broken samples, `tokenizer` the one CLIP tokenizer, `cli` the `zoo data` command and
`fixtures` tiny files in the real formats for tests. Submodules import lazily so that
`import zoo.data` stays cheap.
"""
from __future__ import annotations

from typing import Any

__all__ = ["make_loader", "DataSkipError", "SkipCounter", "read_index", "shard_urls"]


def __getattr__(name: str) -> Any:
    if name in ("make_loader", "DataSkipError", "SkipCounter"):
        from . import pipeline

        return getattr(pipeline, name)
    if name in ("read_index", "shard_urls"):
        from . import shards

        return getattr(shards, name)
    raise AttributeError(f"module 'zoo.data' has no attribute {name!r}")
