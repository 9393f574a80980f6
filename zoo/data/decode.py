"""Per-modality decoding: one raw webdataset sample (bytes per extension) -> training items.

Decoders read only the extensions they expect (png/jpg, txt, json, bin) with explicit parsers;
webdataset's automatic decoder is never used, because it would unpickle `.pyd`/`.pth` members
of an untrusted shard. Any exception here marks the sample broken (the pipeline's SkipCounter
logs, counts and drops it).

Items and the batch keys they collate into (the models' `forward(**batch)` contract):
- pixels:  {"image": uint8 (3, H, W)}
- bytes:   {"input_ids": int64 (N,), "labels": int64 (N,)}, labels = next bytes; eval pads the
           last window of a chunk with labels -100 (ignored), so every byte is scored once
- listops: {"input_ids": int64 (N,), "attention_mask": bool (N,), "labels": int}
- vqa:     {"image": float32 (3, H, W) in [0, 1], "question_ids": int64 (Lq,),
            "question_mask": bool (Lq,), "labels": int answer index (-100 if out of vocabulary),
            "question_id": int, "answers": [str]}
- caption: {"image": float32 (3, H, W) in [0, 1], "caption_ids": int64 (L,),
            "caption_mask": bool (L,), "image_id": int, "references": [str]}
"""
from __future__ import annotations

import io
import json
import random
from typing import Any, Sequence

import numpy as np
import torch

from . import listops
from .tokenizer import tokenize

IGNORE_INDEX = -100
Sample = dict[str, Any]


def _field(sample: Sample, *exts: str) -> bytes:
    for ext in exts:
        if ext in sample:
            return sample[ext]
    raise KeyError(f"sample {sample.get('__key__')!r} has none of {exts} (has "
                   f"{sorted(k for k in sample if not k.startswith('__'))})")


def _json(sample: Sample) -> dict[str, Any]:
    return json.loads(_field(sample, "json"))


def _pil(data: bytes):
    from PIL import Image

    im = Image.open(io.BytesIO(data))
    im.load()  # decode now so a truncated file fails here, inside the handler
    return im.convert("RGB")


def _resize_crop(im, size: int | None):
    """Shorter side to `size` (bicubic), then a centre crop to size x size."""
    from PIL import Image

    if size is None or im.size == (size, size):
        return im
    w, h = im.size
    scale = size / min(w, h)
    im = im.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BICUBIC)
    w, h = im.size
    left, top = (w - size) // 2, (h - size) // 2
    return im.crop((left, top, left + size, top + size))


def _uint8_chw(im) -> torch.Tensor:
    return torch.from_numpy(np.array(im, dtype=np.uint8)).permute(2, 0, 1).contiguous()  # (3, H, W)


def _float_chw(im) -> torch.Tensor:
    return _uint8_chw(im).float().div_(255.0)  # (3, H, W) in [0, 1]


class PixelDecoder:
    """png/jpg -> uint8 (3, H, W); a wrong size is a broken sample, not a crash in collate.

    ``resize`` (a side) area-averages larger images down first: easy-VQA's 64x64 images as
    CIFAR-shaped 32x32 sequences."""

    def __init__(self, image_size: Sequence[int] | None = None, resize: int | None = None):
        self.image_size = (resize, resize) if resize else (tuple(image_size) if image_size else None)
        self.resize = resize

    def __call__(self, sample: Sample, rng: random.Random) -> list[Sample]:
        pil = _pil(_field(sample, "png", "jpg"))
        if self.resize and pil.size != (self.resize, self.resize):
            from PIL import Image
            pil = pil.convert("RGB").resize((self.resize, self.resize), Image.BOX)
        image = _uint8_chw(pil)
        if self.image_size and tuple(image.shape[1:]) != self.image_size:
            raise ValueError(f"image {tuple(image.shape[1:])} != expected {self.image_size}")
        return [{"image": image}]


class ByteWindows:
    """A byte chunk -> windows of N+1 bytes: random ones for training, a tiling for eval."""

    def __init__(self, seq_len: int, train: bool):
        self.seq_len, self.train = seq_len, train

    def __call__(self, sample: Sample, rng: random.Random) -> list[Sample]:
        data = torch.frombuffer(bytearray(_field(sample, "bin")), dtype=torch.uint8).long()  # (C+1,)
        n = self.seq_len
        if len(data) < 2:
            raise ValueError("byte chunk shorter than 2 bytes")
        if self.train:
            if len(data) < n + 1:
                raise ValueError(f"chunk of {len(data)} bytes < seq_len + 1 = {n + 1}; convert "
                                 "with a larger chunk_size")
            count = max(1, (len(data) - 1) // n)  # as many windows as a tiling would give
            starts = [rng.randrange(len(data) - n) for _ in range(count)]
            return [{"input_ids": data[s:s + n], "labels": data[s + 1:s + n + 1]} for s in starts]
        items = []
        for s in range(0, len(data) - 1, n):  # targets s+1 .. s+n: each byte scored once
            window = data[s:s + n + 1]
            m = len(window) - 1
            ids = torch.zeros(n, dtype=torch.long)
            labels = torch.full((n,), IGNORE_INDEX, dtype=torch.long)
            ids[:m], labels[:m] = window[:-1], window[1:]
            items.append({"input_ids": ids, "labels": labels})
        return items


class ListOpsDecoder:
    """LRA tsv text -> ids padded to seq_len with a real-token mask, label 0-9."""

    def __init__(self, seq_len: int, add_cls: bool = False):
        self.seq_len, self.add_cls = seq_len, add_cls

    def __call__(self, sample: Sample, rng: random.Random) -> list[Sample]:
        ids = listops.encode(_field(sample, "txt").decode("utf-8"), self.add_cls)[:self.seq_len]
        label = int(_json(sample)["label"])
        if not 0 <= label <= 9:
            raise ValueError(f"ListOps label {label} outside 0..9")
        input_ids = torch.full((self.seq_len,), listops.PAD_ID, dtype=torch.long)
        input_ids[:len(ids)] = torch.tensor(ids, dtype=torch.long)
        mask = torch.zeros(self.seq_len, dtype=torch.bool)
        mask[:len(ids)] = True
        return [{"input_ids": input_ids, "attention_mask": mask, "labels": label}]


AUGMENTS = (None, "dihedral")


def dihedral(image: torch.Tensor, rng: random.Random) -> torch.Tensor:
    """image (C, H, W) under one of the 8 flips / quarter turns, drawn from rng (contiguous, as
    collate stacks it). Only for questions whose answers do not depend on direction (easy-VQA
    asks colour, shape, presence)."""
    image = torch.rot90(image, rng.randrange(4), dims=(1, 2))
    return (image.flip(2) if rng.random() < 0.5 else image).contiguous()


class VQADecoder:
    """One image sample with its questions -> one item per question; ``augment="dihedral"``
    flips / turns each training image (one draw per image, shared by its questions)."""

    def __init__(self, answers: Sequence[str], question_len: int, image_size: int | None,
                 augment: str | None = None):
        if augment not in AUGMENTS:
            raise ValueError(f"augment must be one of {AUGMENTS}, got {augment!r}")
        self.answer_index = {a: i for i, a in enumerate(answers)}
        self.question_len, self.image_size, self.augment = question_len, image_size, augment

    def __call__(self, sample: Sample, rng: random.Random) -> list[Sample]:
        meta = _json(sample)
        questions = meta["questions"]
        if not questions:
            return []
        image = _float_chw(_resize_crop(_pil(_field(sample, "png", "jpg")), self.image_size))
        if self.augment == "dihedral":
            image = dihedral(image, rng)
        ids, mask = tokenize([q["question"] for q in questions], self.question_len)  # (Q, Lq)
        return [{"image": image, "question_ids": ids[j], "question_mask": mask[j],
                 "labels": self.answer_index.get(q["answer"], IGNORE_INDEX),
                 "question_id": int(q["question_id"]),
                 "answers": list(q.get("answers") or [q["answer"]])}
                for j, q in enumerate(questions)]


class CaptionDecoder:
    """One image with its captions -> one item (a random caption when training)."""

    def __init__(self, caption_len: int, image_size: int | None, train: bool):
        self.caption_len, self.image_size, self.train = caption_len, image_size, train

    def __call__(self, sample: Sample, rng: random.Random) -> list[Sample]:
        meta = _json(sample)
        refs = list(meta.get("captions") or ([meta["caption"]] if meta.get("caption") else []))
        if not refs:
            raise ValueError("sample has no caption")
        image = _float_chw(_resize_crop(_pil(_field(sample, "png", "jpg")), self.image_size))
        text = rng.choice(refs) if self.train else refs[0]
        ids, mask = tokenize(text, self.caption_len)  # (1, L)
        return [{"image": image, "caption_ids": ids[0], "caption_mask": mask[0],
                 "image_id": int(meta["image_id"]), "references": refs}]


def collate(items: list[Sample]) -> dict[str, Any]:
    """Stack tensors, turn ints into int64 tensors, keep everything else as lists."""
    batch: dict[str, Any] = {}
    for key in items[0]:
        values = [it[key] for it in items]
        if isinstance(values[0], torch.Tensor):
            batch[key] = torch.stack(values)
        elif isinstance(values[0], (int, np.integer)) and not isinstance(values[0], bool):
            batch[key] = torch.tensor(values, dtype=torch.long)
        else:
            batch[key] = values
    return batch
