"""Tiny dataset files in the exact real formats, for tests and dry runs (never downloaded).

Each writer produces what the official download unpacks to, at a few samples: CIFAR-10's Python 2
pickles (written opcode-for-opcode like Python 2's cPickle, protocol 2, `str` as BINSTRING and
`numpy.core.multiarray._reconstruct`), ImageNet 64x64 npz files, enwik8/text8 raw bytes, COCO
caption JSON (official 2017 and Karpathy) with JPEG folders, and VQA v2 question/annotation JSON
with COCO-named JPEGs. Every writer returns what it wrote so a test can compare the round trip.
"""
from __future__ import annotations

import io
import json
import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np


class _Py2Pickler(pickle._Pickler):  # the pure-Python pickler lets us override per type
    """Protocol 2 like Python 2's cPickle: str and bytes both as py2 `str` (BINSTRING)."""

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_py2_str(self, obj: str | bytes) -> None:
        data = obj.encode("latin1") if isinstance(obj, str) else bytes(obj)
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[bytes] = _save_py2_str
    dispatch[str] = _save_py2_str


def py2_pickle(obj: Any) -> bytes:
    """`obj` pickled the way the CIFAR-10 python batches were (Python 2, protocol 2)."""
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    # numpy 2 names its module numpy._core; Python-2-era files say numpy.core
    return buf.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def _images(rng: np.random.Generator, n: int, side: int) -> np.ndarray:
    """(n, side, side, 3) uint8: smooth gradients plus noise, so PNG/JPEG behave like photos."""
    yy, xx = np.mgrid[0:side, 0:side] / max(1, side - 1)
    base = np.stack([yy, xx, 1 - yy], -1)[None] * rng.uniform(80, 200, (n, 1, 1, 3))
    return np.clip(base + rng.normal(0, 20, (n, side, side, 3)), 0, 255).astype(np.uint8)


def _jpeg(img: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def write_cifar10(root: str | Path, per_batch: int = 4, seed: int = 0) -> dict[str, Any]:
    """cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta} under `root`."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"folder": folder, "train": ([], []), "test": ([], [])}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for b, name in enumerate(names):
        imgs = _images(rng, per_batch, 32)  # (N, 32, 32, 3)
        labels = [int(y) for y in rng.integers(0, 10, per_batch)]
        data = np.ascontiguousarray(imgs.transpose(0, 3, 1, 2).reshape(per_batch, 3072))  # R|G|B planes
        label = f"training batch {b + 1} of 5" if name != "test_batch" else "testing batch 1 of 1"
        batch = {b"batch_label": label.encode(), b"labels": labels, b"data": data,
                 b"filenames": [f"img_{b}_{i}.png".encode() for i in range(per_batch)]}
        (folder / name).write_bytes(py2_pickle(batch))
        split = "test" if name == "test_batch" else "train"
        out[split][0].append(imgs)
        out[split][1].extend(labels)
    meta = {b"num_cases_per_batch": per_batch, b"num_vis": 3072,
            b"label_names": [c.encode() for c in ("airplane", "automobile", "bird", "cat", "deer",
                                                  "dog", "frog", "horse", "ship", "truck")]}
    (folder / "batches.meta").write_bytes(py2_pickle(meta))
    for split in ("train", "test"):
        out[split] = (np.concatenate(out[split][0]), out[split][1])
    return out


def write_imagenet64(root: str | Path, per_batch: int = 3, n_train_batches: int = 2, n_val: int = 4,
                     seed: int = 0) -> dict[str, Any]:
    """train_data_batch_{1..k}.npz and val_data.npz (data (N, 12288) uint8, 1-based labels)."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"train": ([], []), "val": ([], [])}

    def one(path: Path, n: int, split: str, with_mean: bool) -> None:
        imgs = _images(rng, n, 64)
        data = np.ascontiguousarray(imgs.transpose(0, 3, 1, 2).reshape(n, 12288))
        labels = [int(y) for y in rng.integers(1, 1001, n)]  # the official files are 1-based
        arrays = {"data": data, "labels": labels}
        if with_mean:
            arrays["mean"] = data.mean(0)
        np.savez(path, **arrays)
        out[split][0].append(imgs)
        out[split][1].extend(y - 1 for y in labels)

    for i in range(1, n_train_batches + 1):
        one(root / f"train_data_batch_{i}.npz", per_batch, "train", True)
    one(root / "val_data.npz", n_val, "val", False)
    for split in ("train", "val"):
        out[split] = (np.concatenate(out[split][0]), out[split][1])
    return out


def write_text(root: str | Path, name: str, n_bytes: int = 20_000, seed: int = 0) -> bytes:
    """`root/name`: enwik8-like XML/UTF-8 bytes or text8-like a-z and spaces."""
    rng = np.random.default_rng(seed)
    words = ["the", "of", "and", "wiki", "page", "zürich", "année", "text", "<title>", "</title>",
             "[[link]]", "&amp;", "{{cite}}", "\n"]
    if name == "text8":
        words = ["the", "of", "and", "anarchism", "originated", "as", "a", "term", "abuse"]
    text = " ".join(rng.choice(words, n_bytes // 3)).encode("utf-8")[:n_bytes]
    path = Path(root) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text)
    return text


def write_coco(root: str | Path, n_train: int = 3, n_val: int = 2, karpathy: bool = False,
               seed: int = 0) -> dict[str, Any]:
    """Official: annotations/captions_{train,val}2017.json + {train,val}2017/*.jpg.
    Karpathy: dataset_coco.json + train2014/, val2014/ with COCO_*2014_*.jpg."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    out: dict[str, Any] = {}
    ann_id, kimages = 1, []
    for split, n in (("train", n_train), ("val", n_val)):
        folder = root / (f"{split}2014" if karpathy else f"{split}2017")
        folder.mkdir(parents=True, exist_ok=True)
        images, anns, recs = [], [], []
        for img in _images(rng, n, 48):
            image_id = int(rng.integers(1, 600_000))
            fname = f"COCO_{split}2014_{image_id:012d}.jpg" if karpathy else f"{image_id:012d}.jpg"
            jpg = _jpeg(img)
            (folder / fname).write_bytes(jpg)
            caps = [" ".join(["a", *rng.choice(["red", "small", "happy", "wooden"], 2),
                              str(rng.choice(["cat", "bus", "kite", "pizza"])), "near the",
                              str(rng.choice(["river", "station", "table"]))]) for _ in range(5)]
            images.append({"license": 1, "file_name": fname, "coco_url": "", "height": 48,
                           "width": 48, "date_captured": "2013-11-14 11:18:45", "flickr_url": "",
                           "id": image_id})
            for c in caps:
                anns.append({"image_id": image_id, "id": ann_id, "caption": c})
                ann_id += 1
            recs.append({"image_id": image_id, "captions": caps, "jpg": jpg})
            kimages.append({"filepath": f"{split}2014", "filename": fname, "imgid": len(kimages),
                            "split": "train" if split == "train" else ("val", "test")[len(recs) % 2],
                            "cocoid": image_id,
                            "sentences": [{"tokens": c.split(), "raw": c, "imgid": len(kimages),
                                           "sentid": 0} for c in caps], "sentids": [0]})
        out[split] = recs
        if not karpathy:
            (root / "annotations").mkdir(parents=True, exist_ok=True)
            (root / "annotations" / f"captions_{split}2017.json").write_text(json.dumps(
                {"info": {"description": "COCO 2017 Dataset"}, "licenses": [],
                 "images": images, "annotations": anns}))
    if karpathy:
        (root / "dataset_coco.json").write_text(json.dumps({"images": kimages, "dataset": "coco"}))
        out["karpathy"] = kimages
    return out


def write_vqav2(root: str | Path, n_images: int = 3, questions_per_image: int = 3,
                seed: int = 0) -> dict[str, Any]:
    """v2_OpenEnded_mscoco_{split}2014_questions.json, v2_mscoco_{split}2014_annotations.json,
    {split}2014/COCO_{split}2014_{id:012d}.jpg for split in train, val."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    vocab = ["yes", "no", "2", "red", "dog", "tennis"]
    out: dict[str, Any] = {}
    for split in ("train", "val"):
        (root / f"{split}2014").mkdir(parents=True, exist_ok=True)
        qs, anns, recs = [], [], []
        for img in _images(rng, n_images, 40):
            image_id = int(rng.integers(1, 600_000))
            jpg = _jpeg(img)
            (root / f"{split}2014" / f"COCO_{split}2014_{image_id:012d}.jpg").write_bytes(jpg)
            for k in range(questions_per_image):
                qid = image_id * 1000 + k
                answers = [str(rng.choice(vocab)) for _ in range(10)]
                mc = max(set(answers), key=answers.count)
                qs.append({"image_id": image_id, "question": f"what is thing {k}?", "question_id": qid})
                anns.append({"question_type": "what is", "multiple_choice_answer": mc,
                             "answers": [{"answer": a, "answer_confidence": "yes", "answer_id": i + 1}
                                         for i, a in enumerate(answers)],
                             "image_id": image_id, "answer_type": "other", "question_id": qid})
            recs.append({"image_id": image_id, "jpg": jpg})
        (root / f"v2_OpenEnded_mscoco_{split}2014_questions.json").write_text(json.dumps(
            {"info": {}, "task_type": "Open-Ended", "data_type": "mscoco",
             "license": {}, "data_subtype": f"{split}2014", "questions": qs}))
        (root / f"v2_mscoco_{split}2014_annotations.json").write_text(json.dumps(
            {"info": {}, "license": {}, "data_subtype": f"{split}2014", "annotations": anns}))
        out[split] = {"images": recs, "questions": qs, "annotations": anns}
    return out
