"""easy-VQA (Victor Zhou, 2020, https://github.com/vzhou842/easy-VQA): 64x64 images of one
coloured shape (circle, rectangle or triangle in one of 8 colours) on a light background, with
templated questions over 13 answers. The `easy-vqa` package ships the data itself: 4,000 train
and 1,000 test images, 38,575 + 9,673 questions (no network needed).

We also derive one caption per image, e.g. "a small blue rectangle in the bottom right":
colour and shape come from the image's answers (direct "what color/shape" answers, else by
elimination over its yes/no questions), and, when the answers leave them open, from the pixels;
size and position are always measured from the pixels (the bounding box of the pixels that
differ from the uniform background).

Shards: one sample per image, `png` (the package's file, byte for byte) + `json` {"image_id",
"caption", "color", "shape", "size", "position", "questions": [{"question_id", "question",
"answer"}]}. index.json's meta holds the answer list (easy_vqa.get_answers() order = labels).
"""
from __future__ import annotations

import os
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from .shards import ShardSink, print_summary, write_index

# the package draws with exactly these RGB values (measured on all 5,000 images)
PALETTE = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255), "yellow": (255, 255, 0),
           "teal": (0, 128, 128), "brown": (165, 42, 42), "gray": (128, 128, 128),
           "black": (0, 0, 0)}
SHAPES = ("circle", "rectangle", "triangle")
_WORD = re.compile(r"\b(" + "|".join(list(PALETTE) + list(SHAPES)) + r")\b")


def _easy_vqa():
    try:
        import easy_vqa
    except ImportError as exn:
        raise FileNotFoundError("easy-VQA: the `easy-vqa` package is not installed; "
                                "`pip install easy-vqa` (or `pip install -e .[data]`)") from exn
    return easy_vqa


def attributes_from_answers(qa: list[tuple[str, str]]) -> dict[str, str | None]:
    """{"color", "shape"} implied by one image's (question, answer) pairs; None where undecided."""
    known: dict[str, str | None] = {"color": None, "shape": None}
    ruled_out: set[str] = set()
    for q, a in qa:
        if a in PALETTE and q.startswith("what"):  # "what color is the X?" / "what is the color of"
            known["color"] = a
        elif a in SHAPES and q.startswith("what"):  # "what shape ..." / "what is the X shape?"
            known["shape"] = a
        elif a in ("yes", "no"):
            m = _WORD.search(q)
            if m is None:
                continue
            negated = re.search(r"\b(not|no)\b", q) is not None
            present = (a == "yes") != negated
            word = m.group(1)
            kind = "color" if word in PALETTE else "shape"
            if present:
                known[kind] = word
            else:
                ruled_out.add(word)
    for kind, options in (("color", PALETTE), ("shape", SHAPES)):
        left = [w for w in options if w not in ruled_out]
        if known[kind] is None and len(left) == 1:
            known[kind] = left[0]
    return known


def measure(img: np.ndarray) -> dict[str, Any]:
    """Shape geometry from the pixels of an (H, W, 3) uint8 image with a uniform background."""
    img = img[..., :3].astype(np.int32)  # (H, W, 3)
    h, w = img.shape[:2]
    border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])  # (2H + 2W, 3)
    colours, counts = np.unique(border, axis=0, return_counts=True)
    background = colours[counts.argmax()]
    dist = np.abs(img - background).sum(-1)  # (H, W)
    if dist.max() == 0:
        raise ValueError("image has no shape (uniform colour)")
    mask = dist > dist.max() // 2  # anti-aliased edges count when more shape than background
    ys, xs = np.nonzero(mask)
    top, bottom, left, right = ys.min(), ys.max(), xs.min(), xs.max()
    box_h, box_w = bottom - top + 1, right - left + 1
    core = img[dist >= dist.max() * 0.95]  # fully covered pixels: the drawing colour
    rgb = np.median(core, axis=0)
    colour = min(PALETTE, key=lambda c: float(((rgb - np.array(PALETTE[c])) ** 2).sum()))
    fill = mask.sum() / float(box_h * box_w)  # rectangle ~1, circle ~pi/4, triangle ~1/2
    shape = "rectangle" if fill > 0.93 else "circle" if fill > 0.68 else "triangle"
    cy, cx = (top + bottom) / 2.0, (left + right) / 2.0
    extent = max(box_h, box_w) / float(max(h, w))
    return {"bbox": [int(top), int(left), int(bottom), int(right)], "center": [cy, cx],
            "color": colour, "shape": shape, "fill": float(fill), "extent": extent,
            "size": "small" if extent <= 0.25 else "medium" if extent <= 0.375 else "large",
            "position": position_phrase(cy / (h - 1), cx / (w - 1))}


def position_phrase(y: float, x: float) -> str:
    """Where a point (y, x in [0, 1], 0 = top left) sits on a 3x3 grid, as an English phrase."""
    row = "top" if y < 1 / 3 else "bottom" if y > 2 / 3 else "middle"
    col = "left" if x < 1 / 3 else "right" if x > 2 / 3 else "center"
    if row == "middle" and col == "center":
        return "in the center"
    if row == "middle":
        return f"on the {col}"
    if col == "center":
        return f"at the {row}"
    return f"in the {row} {col}"


def derive_caption(img: np.ndarray, qa: list[tuple[str, str]]) -> dict[str, Any]:
    """Caption + attributes for one image; answers win over pixels for colour and shape."""
    geo = measure(img)
    told = attributes_from_answers(qa)
    colour = told["color"] or geo["color"]
    shape = told["shape"] or geo["shape"]
    caption = f"a {geo['size']} {colour} {shape} {geo['position']}"
    return {"caption": caption, "color": colour, "shape": shape, "size": geo["size"],
            "position": geo["position"], "bbox": geo["bbox"],
            "from_pixels": [k for k in ("color", "shape") if told[k] is None]}


def read_split(split: str) -> tuple[dict[int, str], dict[int, list[dict[str, Any]]]]:
    """({image_id: png path}, {image_id: [{"question_id", "question", "answer"}]}) of a split."""
    ev = _easy_vqa()
    texts, answers, image_ids = (ev.get_train_questions if split == "train"
                                 else ev.get_test_questions)()
    paths = (ev.get_train_image_paths if split == "train" else ev.get_test_image_paths)()
    per_image: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for qid, (q, a, i) in enumerate(zip(texts, answers, image_ids)):
        per_image[int(i)].append({"question_id": qid, "question": q, "answer": a})
    return paths, per_image


def convert(out: str | os.PathLike, limit: int | None = None, *, maxcount: int = 250,
            progress: bool | None = None) -> dict[str, Any]:
    """The installed easy-VQA data -> shards (at most `limit` images per split)."""
    from PIL import Image

    answers = _easy_vqa().get_answers()
    summaries = []
    for split in ("train", "test"):
        paths, per_image = read_split(split)
        ids = sorted(paths)[:limit] if limit is not None else sorted(paths)
        with ShardSink(out, split, maxcount=maxcount, total=len(ids), desc=f"easyvqa {split}",
                       progress=progress) as sink:
            for i in ids:
                key = f"{i:05d}"
                png = Path(paths[i]).read_bytes()
                qs = per_image.get(i, [])
                try:
                    with Image.open(paths[i]) as im:
                        img = np.asarray(im.convert("RGB"))  # (64, 64, 3)
                    cap = derive_caption(img, [(q["question"], q["answer"]) for q in qs])
                except (OSError, ValueError) as exn:
                    sink.skip(key, f"{paths[i]}: {exn}")
                    continue
                sink.write({"__key__": key, "png": png,
                            "json": {"image_id": i, **cap, "questions": qs}}, items=len(qs))
        summaries.append(sink.summary)
    index = write_index(out, "easyvqa", summaries, answers=answers, image_size=[64, 64],
                        source="easy_vqa package")
    print_summary(index, out)
    return index
