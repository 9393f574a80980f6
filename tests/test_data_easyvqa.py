"""easy-VQA conversion from the installed package, and the captions derived from answers + pixels."""
from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

easy_vqa = pytest.importorskip("easy_vqa")

from zoo.data import easyvqa  # noqa: E402
from zoo.data.pipeline import make_loader  # noqa: E402
from zoo.data.shards import shard_urls  # noqa: E402

LIMIT = 24


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    out = tmp_path_factory.mktemp("easyvqa")
    index = easyvqa.convert(out, limit=LIMIT, progress=False)
    return out, index


def samples(folder, split):
    out = {}
    for url in shard_urls(folder, split):
        with tarfile.open(url) as tf:
            for m in tf.getmembers():
                key, ext = m.name.split(".", 1)
                out.setdefault(key, {})[ext] = tf.extractfile(m).read()
    return [out[k] for k in sorted(out)]


def shape_pixels(img: np.ndarray) -> np.ndarray:
    """Independent of the converter: pixels far from the top-left corner's colour."""
    return np.abs(img.astype(int) - img[0, 0].astype(int)).sum(-1) > 60


def test_conversion_counts_and_questions(shards):
    folder, index = shards
    assert index["meta"]["answers"] == easy_vqa.get_answers() and len(index["meta"]["answers"]) == 13
    assert index["splits"]["train"]["samples"] == LIMIT and index["splits"]["test"]["samples"] == LIMIT
    texts, answers, image_ids = easy_vqa.get_train_questions()
    want = sum(1 for i in image_ids if i < LIMIT)
    assert index["splits"]["train"]["items"] == want  # every question of the converted images
    paths = easy_vqa.get_train_image_paths()
    for s in samples(folder, "train")[:5]:
        meta = json.loads(s["json"])
        assert s["png"] == Path(paths[meta["image_id"]]).read_bytes()  # the package's own file
        for q in meta["questions"]:
            assert (texts[q["question_id"]], answers[q["question_id"]]) == (q["question"], q["answer"])


def test_captions_agree_with_answers_and_pixels(shards):
    from PIL import Image

    folder, _ = shards
    for s in samples(folder, "train") + samples(folder, "test"):
        meta = json.loads(s["json"])
        cap = meta["caption"]
        assert cap == f"a {meta['size']} {meta['color']} {meta['shape']} {meta['position']}"
        for q in meta["questions"]:  # no caption contradicts a direct answer
            if q["question"].startswith("what color"):
                assert q["answer"] == meta["color"]
            if q["question"].startswith("what shape"):
                assert q["answer"] == meta["shape"]
        img = np.asarray(Image.open(io.BytesIO(s["png"])).convert("RGB"))
        ys, xs = np.nonzero(shape_pixels(img))
        cy, cx = (ys.min() + ys.max()) / 2 / 63, (xs.min() + xs.max()) / 2 / 63
        words = cap.split()
        for v, low, high in ((cy, "top", "bottom"), (cx, "left", "right")):
            if min(abs(v - 1 / 3), abs(v - 2 / 3)) > 0.03:  # clear of a grid line
                assert (low in words) == (v < 1 / 3) and (high in words) == (v > 2 / 3), cap
        extent = max(ys.max() - ys.min(), xs.max() - xs.min()) + 1  # this mask: up to 2 px wider
        assert {"small": extent <= 18, "medium": 15 <= extent <= 26, "large": extent >= 24}[meta["size"]]


@pytest.mark.parametrize("shape,box,expected", [
    ("rectangle", (44, 46, 58, 60), "a small blue rectangle in the bottom right"),
    ("ellipse", (2, 2, 30, 30), "a large red circle in the top left"),
    ("polygon", (20, 22, 42, 44), "a medium teal triangle in the center"),
])
def test_caption_from_pixels_alone(shape, box, expected):
    from PIL import Image, ImageDraw

    colour = {"rectangle": "blue", "ellipse": "red", "polygon": "teal"}[shape]
    im = Image.new("RGB", (64, 64), (240, 230, 235))
    draw = ImageDraw.Draw(im)
    x0, y0, x1, y1 = box
    if shape == "polygon":
        draw.polygon([(x0, y1), (x1, y1), ((x0 + x1) // 2, y0)], fill=easyvqa.PALETTE[colour])
    else:
        getattr(draw, shape)(box, fill=easyvqa.PALETTE[colour])
    got = easyvqa.derive_caption(np.asarray(im), [])  # no answers: everything from the pixels
    assert got["caption"] == expected and set(got["from_pixels"]) == {"color", "shape"}
    # answers win when they speak, including by elimination over yes/no questions
    qa = [("is there a circle?", "no"), ("is there not a triangle?", "yes"), ("is a red shape present?", "no")]
    told = easyvqa.attributes_from_answers(qa)
    assert told["shape"] == "rectangle" and told["color"] is None


def test_vqa_and_caption_loaders(shards):
    folder, index = shards
    vqa = list(make_loader("vqa", folder, batch_size=32, train=False, split="test"))
    b = vqa[0]
    assert b["image"].shape == (32, 3, 64, 64) and b["image"].dtype == torch.float32
    assert b["question_ids"].dtype == torch.int64 and b["question_mask"].dtype == torch.bool
    labels = torch.cat([x["labels"] for x in vqa])
    assert len(labels) == index["splits"]["test"]["items"] and 0 <= labels.min() and labels.max() < 13
    qids = torch.cat([x["question_id"] for x in vqa])
    assert len(set(qids.tolist())) == len(qids)  # each question exactly once
    cap = next(iter(make_loader("caption", folder, batch_size=4, train=True, seed=0)))
    from zoo.data.tokenizer import decode

    assert cap["image"].shape == (4, 3, 64, 64) and cap["caption_ids"].shape == (4, 32)
    assert all(decode(ids) == refs[0] for ids, refs in zip(cap["caption_ids"], cap["references"]))


def test_dihedral_augment_flips_or_turns_training_images_only(shards):
    """Each augmented training image is one of the 8 flips / quarter turns of its original (same
    question ids identify the sample), eval loaders ignore the option, bad values name it."""
    folder, _ = shards
    plain = {int(q): im for b in make_loader("vqa", folder, 64, train=False, split="train")
             for q, im in zip(b["question_id"], b["image"])}
    aug = next(iter(make_loader("vqa", folder, 64, train=True, split="train", seed=0, augment="dihedral")))
    moved = 0
    for q, im in zip(aug["question_id"], aug["image"]):
        orig = plain[int(q)]
        views = [torch.rot90(orig, r, dims=(1, 2)) for r in range(4)]
        views += [v.flip(2) for v in views]
        assert any(torch.equal(im, v) for v in views)
        moved += not torch.equal(im, orig)
    assert moved > 0
    ev = next(iter(make_loader("vqa", folder, 64, train=False, split="train", augment="dihedral")))
    assert all(torch.equal(im, plain[int(q)]) for q, im in zip(ev["question_id"], ev["image"]))
    with pytest.raises(ValueError, match="augment must be one of"):
        make_loader("vqa", folder, 4, train=True, split="train", augment="mixup")
    with pytest.raises(ValueError, match="augment is only available for kind 'vqa'"):
        make_loader("caption", folder, 4, train=True, split="train", augment="dihedral")
