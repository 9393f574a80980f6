"""Likelihood metrics: bits/dim for pixel models, bits/char for byte language models.

bits/dim is the negative log-likelihood in base 2 divided by the number of sub-pixels, as in
van den Oord et al., "Pixel Recurrent Neural Networks" (2016) and Child et al., "Generating Long
Sequences with Sparse Transformers" (2019); bits/char is the same quantity per byte of enwik8 /
text8 (Al-Rfou et al. 2019; Dai et al., "Transformer-XL", 2019). Scores are *exact* sums over the
whole split: logits are upcast to float64 before the log-softmax, each term is converted to bits,
per-sample sums are added with ``math.fsum``, and the total is divided by the count of real
targets once at the end — never an average of batch means.

Sequence-length handling and padding:

* Pixel models see whole images: the target of an image (B, 3, H, W) is its raster in (row,
  column, channel) order — length 3*H*W, matching the logits (B, 3*H*W, 256). Nothing is padded;
  a short last batch is simply smaller.
* Byte LMs fed from pipeline batches ``{"input_ids", "labels"}``: ``labels`` equal to -100
  (PyTorch's ``ignore_index``) mark padding and are excluded from both the sum and the count, so
  a padded last chunk does not bias the average. zoo.data tiles each text chunk into
  non-overlapping windows: every byte is scored once, but the context restarts at every window
  (a byte at offset j sees j bytes) — a pessimistic number; papers report the sliding one below.
* Long texts (a whole test split as one byte string): ``evaluate_lm_sliding`` scores every byte
  but the first exactly once. Windows of ``n = min(context, len - 1)`` inputs advance by
  ``stride``; each window scores only targets no earlier window scored, so every scored byte sees
  at least ``n - stride + 1`` bytes of context (all of it when ``stride = 1``; ``stride =
  context`` is plain non-overlapping chunking). The last window is shifted back to end at the
  text's end, so every window has the same length and nothing is ever padded. This is the
  overlapping evaluation of Transformer-XL and Longformer (context 32,256, stride 512).
"""
from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping
from typing import NamedTuple

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100
CHANNELS = ("R", "G", "B")


def bits_per_unit(nll_nats: float, count: int) -> float:
    """Convert a summed NLL in nats over ``count`` symbols to bits per symbol."""
    if count <= 0:
        raise ValueError("cannot compute bits per symbol over zero symbols")
    return float(nll_nats) / (count * math.log(2))


# Same conversion; two names so call sites say which unit they mean.
bits_per_dim = bits_per_unit
bits_per_char = bits_per_unit


def token_nll(
    logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = IGNORE_INDEX
) -> tuple[torch.Tensor, int]:
    """Summed NLL (nats, float64 scalar) and the number of non-ignored targets.

    logits (..., V), targets (...) of class ids; logits are upcast to float64 first.
    """
    if logits.shape[:-1] != targets.shape:
        raise ValueError(f"logits {tuple(logits.shape)} do not match targets {tuple(targets.shape)}")
    flat_t = targets.reshape(-1).long()
    nll = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).double(), flat_t,
        reduction="sum", ignore_index=ignore_index,
    )
    return nll, int((flat_t != ignore_index).sum())


def rasterize(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 3, H, W) -> long (B, H*W*3) in raster order (row, column, channel)."""
    if images.dim() != 4:
        raise ValueError(f"expected images (B, C, H, W), got shape {tuple(images.shape)}")
    return images.permute(0, 2, 3, 1).reshape(images.shape[0], -1).long()


def _elementwise_bits(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """-log2 p(target) per position in float64, shape of ``targets``, 0 where ignored.

    Converting each term to bits *before* summing keeps round numbers round: a uniform model's
    term is exactly 8.0 bits, and sums of 8.0 are exact, so its bits/dim is exactly 8.0.
    """
    nll = F.cross_entropy(
        logits.double().reshape(-1, logits.shape[-1]), targets.reshape(-1).long(),
        reduction="none", ignore_index=IGNORE_INDEX,
    )
    return (nll / math.log(2)).view(targets.shape)


def pixel_nll(logits: torch.Tensor, images: torch.Tensor, *, unit: str = "nats") -> torch.Tensor:
    """Per-image, per-channel summed NLL, float64 (B, C), in ``unit`` "nats" or "bits".

    logits (B, C*H*W, 256) over the raster (row, col, channel); images uint8 (B, C, H, W).
    """
    b, c = images.shape[:2]
    targets = rasterize(images).to(logits.device)  # (B, H*W*C)
    if logits.shape[:2] != targets.shape:
        raise ValueError(
            f"pixel logits {tuple(logits.shape)} do not cover the raster {tuple(targets.shape)}"
        )
    bits = _elementwise_bits(logits, targets).view(b, -1, c).sum(dim=1)  # channel fastest
    return bits if unit == "bits" else bits * math.log(2)


class _EvalMode:
    """Put a model in eval mode under inference_mode, restoring its training flag afterwards."""

    def __init__(self, model: torch.nn.Module):
        self.model, self.was_training = model, model.training
        self.inference = torch.inference_mode()

    def __enter__(self):
        self.model.eval()
        self.inference.__enter__()

    def __exit__(self, *exc):
        self.inference.__exit__(*exc)
        self.model.train(self.was_training)


def _device_of(model: torch.nn.Module, device: torch.device | str | None) -> torch.device:
    if device is not None:
        return torch.device(device)
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


class AutoId(NamedTuple):
    """Stand-in id for data without sample ids: unique per rank, but not the same across runs
    with different rank counts (so duplicates between ranks cannot be detected with it)."""

    rank: int
    index: int


def _ids(batch: Mapping, id_key: str | None, size: int, seen: int, rank: int) -> list[Hashable]:
    """Sample ids from the batch, or AutoId(rank, running index) when the data carries none."""
    if id_key is not None and id_key in batch:
        ids = batch[id_key]
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        if len(ids) != size:
            raise ValueError(f"batch has {len(ids)} ids for {size} samples")
        return ids
    return [AutoId(rank, seen + i) for i in range(size)]


# Records map a sample id to its sufficient statistics (NLL in bits, counts): summing them over any partition of the
# split (batches, ranks) gives the same totals, and duplicate ids show a sample scored twice.
Records = dict


def pixel_records(
    model: torch.nn.Module,
    batches: Iterable[Mapping[str, torch.Tensor]],
    *,
    device: torch.device | str | None = None,
    id_key: str | None = None,
    rank: int = 0,
) -> Records:
    """{id: (per-channel NLL bits, dims)} per image of batches ``{"image": uint8 (B,3,H,W)}``.

    Only the image is passed to the model (``model(image=...)``); the NLL comes from its logits,
    never from a loss it may report.
    """
    device = _device_of(model, device)
    out: Records = {}
    with _EvalMode(model):
        for batch in batches:
            image = batch["image"].to(device)
            nll = pixel_nll(model(image=image)["logits"], image, unit="bits").cpu()  # (B, C)
            dims = image[0].numel()
            for k, row in zip(_ids(batch, id_key, len(image), len(out), rank), nll.tolist()):
                _put(out, k, (row, dims))
    return out


def lm_records(
    model: torch.nn.Module,
    batches: Iterable[Mapping[str, torch.Tensor]],
    *,
    device: torch.device | str | None = None,
    id_key: str | None = None,
    rank: int = 0,
) -> Records:
    """{id: (NLL bits, #targets)} per sequence of batches ``{"input_ids", "labels"}`` (B, N).

    ``labels`` are the next bytes, -100 where padded. ``attention_mask`` is forwarded if present.
    """
    device = _device_of(model, device)
    out: Records = {}
    with _EvalMode(model):
        for batch in batches:
            inputs = {"input_ids": batch["input_ids"].to(device)}
            if "attention_mask" in batch:
                inputs["attention_mask"] = batch["attention_mask"].to(device)
            logits = model(**inputs)["logits"]  # (B, N, 256)
            labels = batch["labels"].to(device).long()
            nll = _elementwise_bits(logits, labels).sum(dim=1)
            counts = (labels != IGNORE_INDEX).sum(dim=1)
            ids = _ids(batch, id_key, labels.shape[0], len(out), rank)
            for k, v, n in zip(ids, nll.tolist(), counts.tolist()):
                _put(out, k, (v, n))
    return out


def _put(records: Records, key: Hashable, value) -> None:
    if key in records:
        raise ValueError(f"sample {key!r} appears twice in the evaluation data")
    records[key] = value


def pixel_summary(records: Records) -> dict:
    """bits/dim overall and per channel from pixel records (of one rank or all merged)."""
    if not records:
        raise ValueError("no images were evaluated")
    per_channel = [math.fsum(col) for col in zip(*(r[0] for r in records.values()))]  # bits
    dims = sum(r[1] for r in records.values())
    c = len(per_channel)
    names = CHANNELS if c == 3 else tuple(str(i) for i in range(c))
    total = math.fsum(per_channel)
    return {
        "bits_per_dim": total / dims,
        "bits_per_dim_per_channel": {k: v / (dims // c) for k, v in zip(names, per_channel)},
        "nll_nats": total * math.log(2),
        "dims": int(dims),
        "images": len(records),
    }


def lm_summary(records: Records) -> dict:
    """bits/char from LM or sliding-window records (of one rank or all merged)."""
    if not records:
        raise ValueError("no text was evaluated")
    bits = math.fsum(r[0] for r in records.values())
    count = sum(r[1] for r in records.values())
    if count == 0:
        raise ValueError("no targets were scored")
    return {"bits_per_char": bits / count, "nll_nats": bits * math.log(2), "chars": int(count),
            "sequences": len(records)}


def evaluate_pixels(model: torch.nn.Module, batches: Iterable[Mapping], **kw) -> dict:
    """Exact bits/dim (and per channel) of a pixel model over a whole split."""
    return pixel_summary(pixel_records(model, batches, **kw))


def evaluate_lm(model: torch.nn.Module, batches: Iterable[Mapping], **kw) -> dict:
    """Exact bits/char of a byte LM over a whole split of pre-chunked sequences."""
    return lm_summary(lm_records(model, batches, **kw))


def sliding_windows(n_tokens: int, context: int, stride: int) -> list[tuple[int, int]]:
    """Windows ``(begin, first_scored)`` covering targets 1..n_tokens-1 exactly once.

    A window reads inputs ``[begin, begin + n)`` with ``n = min(context, n_tokens - 1)`` and
    predicts tokens ``begin + 1 .. begin + n``; offsets ``>= first_scored`` are the ones it scores.
    """
    if n_tokens < 2:
        raise ValueError("need at least two tokens to score one")
    if not 1 <= stride <= context:
        raise ValueError(f"stride must be in [1, context={context}], got {stride}")
    n = min(context, n_tokens - 1)
    last = n_tokens - 1 - n  # begin of a window ending at the last target
    windows, scored_until, begin = [], 0, 0  # targets 1..scored_until are done
    while scored_until < n_tokens - 1:
        begin = min(begin, last)
        windows.append((begin, scored_until - begin))
        scored_until = begin + n
        begin += stride
    return windows


def sliding_records(
    model: torch.nn.Module,
    data: bytes | bytearray | torch.Tensor,
    *,
    context: int,
    stride: int,
    batch_size: int = 1,
    device: torch.device | str | None = None,
    rank: int = 0,
    world_size: int = 1,
) -> Records:
    """{("window", begin): (NLL bits, #scored)} for this rank's share of the sliding windows.

    ``data`` is the whole split (bytes or a 1-D integer tensor); the model must be causal and
    accept ``min(context, len - 1)`` tokens. Windows are dealt round-robin over ranks, so the
    records of all ranks together cover every byte but the first exactly once.
    """
    tokens = (
        torch.frombuffer(bytearray(data), dtype=torch.uint8)
        if isinstance(data, (bytes, bytearray)) else torch.as_tensor(data)
    ).long().reshape(-1)
    windows = sliding_windows(tokens.numel(), context, stride)[rank::world_size]
    n = min(context, tokens.numel() - 1)
    device = _device_of(model, device)
    offsets = torch.arange(n)
    out: Records = {}
    with _EvalMode(model):
        for i in range(0, len(windows), batch_size):
            chunk = windows[i : i + batch_size]
            x = torch.stack([tokens[b : b + n] for b, _ in chunk])  # (b, n)
            y = torch.stack([tokens[b + 1 : b + n + 1] for b, _ in chunk])
            first = torch.tensor([f for _, f in chunk])[:, None]
            y = y.masked_fill(offsets[None, :] < first, IGNORE_INDEX).to(device)
            logits = model(input_ids=x.to(device))["logits"]  # (b, n, 256)
            nll = _elementwise_bits(logits, y).sum(dim=1)
            counts = (y != IGNORE_INDEX).sum(dim=1)
            for (b, _), v, k in zip(chunk, nll.tolist(), counts.tolist()):
                _put(out, ("window", b), (v, k))
    return out


def evaluate_lm_sliding(model: torch.nn.Module, data, *, context: int, stride: int, **kw) -> dict:
    """bits/char of a causal byte LM over one long text with a sliding context (one process)."""
    out = lm_summary(sliding_records(model, data, context=context, stride=stride, **kw))
    return {**out, "context": context, "stride": stride}
