"""Training data for the engine: the glue to ``zoo.data.pipeline`` and a resumable stream.

Resuming exactly needs the data stream's position in the checkpoint. A webdataset stream has no
cheap "seek", so the stream is cut into *segments* of ``segment`` micro-batches; segment s is a
fresh seeded loader (seed derived from (recipe seed, s); the pipeline adds rank and worker), so
any position p is reproducible from (seed, p): open segment p // segment, skip p % segment
batches. Checkpoints every k steps use segments of k steps, so a resume from a periodic
checkpoint starts a segment and skips nothing.
"""
from __future__ import annotations

import hashlib
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from .schema import Recipe


def kind_of(recipe: Recipe) -> str:
    """The pipeline kind of a recipe's data (the one thing datasets with two tasks must say)."""
    from zoo.data.pipeline import DATASET_KINDS, KINDS

    if recipe.data.kind is not None:
        if recipe.data.kind not in KINDS:
            raise ValueError(f"recipe.data.kind: {recipe.data.kind!r} is not one of {KINDS}")
        return recipe.data.kind
    if recipe.data.dataset not in DATASET_KINDS:
        raise ValueError(f"recipe.data.kind: dataset {recipe.data.dataset!r} has several tasks or is "
                         f"unknown; set kind to one of {KINDS}")
    return DATASET_KINDS[recipe.data.dataset]


def make_loader(recipe: Recipe, *, train: bool, seq_len: int | None, seed: int | None = None,
                split: str | None = None, batch_size: int | None = None,
                epoch_batches: int | None = None) -> Any:
    """The one call into zoo.data.pipeline: a webdataset loader of batch dicts."""
    from zoo.data.pipeline import make_loader as _make_loader

    d = recipe.data
    return _make_loader(
        kind_of(recipe), d.path, batch_size or recipe.micro_batch, train, seq_len,
        split=split or (d.train_split if train else d.eval_split), num_workers=d.workers, seed=seed,
        epoch_batches=epoch_batches, shuffle_buffer=d.shuffle, max_skip_fraction=d.max_skip_fraction,
        **d.options)


def answer_vocab(recipe: Recipe) -> list[str] | None:
    """The VQA answer list (index.json meta.answers) or None."""
    from zoo.data.shards import read_index

    if not Path(recipe.data.path, "index.json").is_file():
        return None
    return (read_index(recipe.data.path).get("meta") or {}).get("answers")


def segment_seed(seed: int, segment: int) -> int:
    """A 63-bit seed for one segment, stable across Python versions and processes."""
    h = hashlib.blake2b(f"zoo-data/{seed}/{segment}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "little") >> 1


class ResumableStream:
    """Endless micro-batches whose position (seed, position) is the checkpointed state."""

    def __init__(self, factory: Callable[[int, int], Iterable[dict]], seed: int, segment: int,
                 position: int = 0):
        if segment < 1:
            raise ValueError(f"segment must be >= 1, got {segment}")
        self.factory, self.seed, self.segment, self.position = factory, seed, segment, position
        self._it: Iterator[dict] | None = None
        self.loader: Any = None

    def _open(self) -> None:
        s, skip = divmod(self.position, self.segment)
        seed = segment_seed(self.seed, s)
        self.loader = self.factory(seed, self.segment)
        self._it = self._cycle(self.loader, seed)
        for _ in islice(self._it, skip):  # only after an off-cadence checkpoint (SIGTERM)
            pass

    @staticmethod
    def _cycle(loader: Iterable[dict], seed: int) -> Iterator[dict]:
        import torch

        epoch = 0
        while True:  # a resampled stream cut into epochs: keep going
            n = 0
            # a DataLoader draws its workers' base seed from torch's global RNG when an iterator
            # is made: fork it, so model randomness never depends on where a segment opened
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed((seed + epoch) % 2**63)
                it = iter(loader)
            epoch += 1
            for batch in it:
                n += 1
                yield batch
            if n == 0:
                raise RuntimeError("the training data stream yielded no batch")

    def __next__(self) -> dict:
        if self._it is None or self.position % self.segment == 0:
            self._open()
        batch = next(self._it)
        self.position += 1
        return batch

    def __iter__(self) -> "ResumableStream":
        return self

    def state(self) -> dict[str, int]:
        return {"seed": self.seed, "segment": self.segment, "position": self.position}

    @classmethod
    def restore(cls, factory, state: dict[str, int]) -> "ResumableStream":
        return cls(factory, int(state["seed"]), int(state["segment"]), int(state["position"]))


def batch_tokens(batch: dict[str, Any], seq_len: int | None = None) -> int:
    """Tokens the model processed in a batch, for tokens/s: samples x the backbone's sequence
    length when the model says it, else sequence ids or (pixel models) sub-pixels."""
    import torch

    if isinstance(seq_len, int) and seq_len > 0:
        return batch_size_of(batch) * seq_len
    n = 0
    for key in ("input_ids", "question_ids", "caption_ids"):
        v = batch.get(key)
        if isinstance(v, torch.Tensor):
            n += v.numel()
    img = batch.get("image")
    if n == 0 and isinstance(img, torch.Tensor) and img.dtype == torch.uint8:
        n = img.numel()  # pixel models: one token per sub-pixel
    return n


def batch_size_of(batch: dict[str, Any]) -> int:
    import torch

    for v in batch.values():
        if isinstance(v, torch.Tensor) and v.dim() > 0:
            return int(v.shape[0])
    return 0


def model_inputs(batch: dict[str, Any], device: Any, dtype: Any = None) -> dict[str, Any]:
    """The tensors of a batch on the device (float ones in the engine's dtype); metadata columns
    (sample ids, reference captions, answer lists) stay behind."""
    import torch

    out = {}
    for k, v in batch.items():
        if not isinstance(v, torch.Tensor) or k.endswith("_id") or k.startswith("__"):
            continue
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        out[k] = v.to(device, non_blocking=True)
    return out


def segment_length(checkpoint_every: int, grad_accum: int, steps: int) -> int:
    """Segment length in micro-batches: one checkpoint interval (the whole run without one)."""
    every = checkpoint_every if checkpoint_every > 0 else steps
    return max(1, min(every, steps)) * grad_accum

