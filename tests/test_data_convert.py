"""Converter round trips: fixture files in each dataset's exact real format -> shards -> back."""
from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from zoo.data import cifar10, coco, fixtures, imagenet64, listops, text, vqav2
from zoo.data.cli import main as data_main
from zoo.data.shards import ALLOWED_EXTENSIONS, ShardSink, read_index, shard_urls


def read_split(folder: Path, split: str) -> list[dict[str, bytes]]:
    """All samples of a split, in order, straight from the tars (no pipeline involved)."""
    samples: list[dict[str, bytes]] = []
    for url in shard_urls(folder, split):
        with tarfile.open(url) as tf:
            for m in tf.getmembers():
                key, ext = m.name.split(".", 1)
                assert ext in ALLOWED_EXTENSIONS, m.name  # never a pickle in a shard
                if not samples or samples[-1]["__key__"] != key:
                    samples.append({"__key__": key})
                samples[-1][ext] = tf.extractfile(m).read()
    return samples


def png_array(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_cifar10_round_trip(tmp_path):
    fx = fixtures.write_cifar10(tmp_path / "src", per_batch=3)
    index = cifar10.convert(tmp_path / "src", tmp_path / "out", maxcount=4, progress=False)
    assert index["splits"]["train"]["samples"] == 15 and index["splits"]["test"]["samples"] == 3
    assert [s["samples"] for s in index["splits"]["train"]["shards"]] == [4, 4, 4, 3]
    assert read_index(tmp_path / "out") == index
    for split in ("train", "test"):
        images, labels = fx[split]
        got = read_split(tmp_path / "out", split)
        assert len(got) == len(labels)
        for s, img, y in zip(got, images, labels):
            assert np.array_equal(png_array(s["png"]), img)
            meta = json.loads(s["json"])
            assert meta["label"] == y and meta["class"] == cifar10.CLASSES[y]


def test_cifar10_limit_and_missing(tmp_path):
    fixtures.write_cifar10(tmp_path / "src", per_batch=3)
    index = cifar10.convert(tmp_path / "src" / "cifar-10-batches-py", tmp_path / "out", limit=5,
                            progress=False)
    assert index["splits"]["train"]["samples"] == 5 and index["splits"]["test"]["samples"] == 3
    (tmp_path / "src" / "cifar-10-batches-py" / "data_batch_4").unlink()
    with pytest.raises(FileNotFoundError, match=r"data_batch_4.*cifar-10-python\.tar\.gz"):
        cifar10.convert(tmp_path / "src", tmp_path / "out2")


def test_imagenet64_round_trip(tmp_path):
    fx = fixtures.write_imagenet64(tmp_path / "src", per_batch=2, n_train_batches=3, n_val=3)
    index = imagenet64.convert(tmp_path / "src", tmp_path / "out", progress=False)
    assert index["splits"]["train"]["samples"] == 6 and index["splits"]["val"]["samples"] == 3
    for split in ("train", "val"):
        images, labels = fx[split]
        got = read_split(tmp_path / "out", split)
        for s, img, y in zip(got, images, labels, strict=True):
            assert np.array_equal(png_array(s["png"]), img)  # channel-major rows decoded right
            assert json.loads(s["json"])["label"] == y  # 0-based
    with pytest.raises(FileNotFoundError, match=r"val_data\.npz.*image-net\.org"):
        imagenet64.convert(tmp_path / "nothing", tmp_path / "out2")


@pytest.mark.parametrize("name", ["enwik8", "text8"])
def test_text_round_trip(tmp_path, name):
    data = fixtures.write_text(tmp_path / "src", name, n_bytes=10_000)
    index = text.convert(tmp_path / "src", tmp_path / "out", name, chunk_size=700, progress=False)
    bounds = text.split_bounds(len(data))
    assert bounds == {"train": (0, 9000), "val": (9000, 9500), "test": (9500, 10_000)}
    for split, (lo, hi) in bounds.items():
        got = read_split(tmp_path / "out", split)
        # chunks overlap by one byte; dropping it restores the split exactly
        joined = got[0]["bin"] + b"".join(s["bin"][1:] for s in got[1:])
        assert joined == data[lo:hi]
        assert index["splits"][split]["items"] == hi - lo - 1  # every byte but the first is a target
        assert all(len(s["bin"]) <= 701 for s in got)
    assert text.split_bounds(100_000_000)["val"] == (90_000_000, 95_000_000)
    with pytest.raises(FileNotFoundError, match=f"{name}.zip"):
        text.convert(tmp_path / "nothing", tmp_path / "out2", name)


def test_text_reads_zip(tmp_path):
    import zipfile

    data = fixtures.write_text(tmp_path, "enwik8", n_bytes=3000)
    with zipfile.ZipFile(tmp_path / "enwik8.zip", "w") as zf:
        zf.write(tmp_path / "enwik8", "enwik8")
    assert text.read_corpus(tmp_path / "enwik8.zip", "enwik8") == data


@pytest.mark.parametrize("karpathy", [False, True])
def test_coco_round_trip(tmp_path, karpathy):
    fx = fixtures.write_coco(tmp_path / "src", n_train=3, n_val=2, karpathy=karpathy)
    index = coco.convert(tmp_path / "src", tmp_path / "out", progress=False)
    assert index["meta"]["layout"] == ("karpathy" if karpathy else "coco2017")
    expected = {r["image_id"]: r for split in ("train", "val") for r in fx[split]}
    seen = 0
    for split in index["splits"]:
        for s in read_split(tmp_path / "out", split):
            meta = json.loads(s["json"])
            rec = expected[meta["image_id"]]
            assert s["jpg"] == rec["jpg"] and meta["captions"] == rec["captions"]
            seen += 1
    assert seen == 5
    if karpathy:
        assert sorted(index["splits"]) == ["test", "train", "val"]


def test_coco_missing_image_is_skipped_and_counted(tmp_path):
    fx = fixtures.write_coco(tmp_path / "src", n_train=3, n_val=1)
    (tmp_path / "src" / "train2017" / f"{fx['train'][1]['image_id']:012d}.jpg").unlink()
    index = coco.convert(tmp_path / "src", tmp_path / "out", progress=False)
    assert index["splits"]["train"]["samples"] == 2 and index["splits"]["train"]["skipped"] == 1
    with pytest.raises(FileNotFoundError, match=r"captions_train2017\.json.*cocodataset\.org"):
        coco.convert(tmp_path / "nothing", tmp_path / "out2")


def test_vqav2_round_trip(tmp_path):
    fx = fixtures.write_vqav2(tmp_path / "src", n_images=3, questions_per_image=4)
    index = vqav2.convert(tmp_path / "src", tmp_path / "out", top_k=3, progress=False)
    answers = index["meta"]["answers"]
    assert len(answers) == 3
    from collections import Counter

    counts = Counter(a["multiple_choice_answer"] for a in fx["train"]["annotations"])
    assert counts[answers[0]] == max(counts.values())
    for split in ("train", "val"):
        assert index["splits"][split]["items"] == 12
        anns = {a["question_id"]: a for a in fx[split]["annotations"]}
        jpgs = {r["image_id"]: r["jpg"] for r in fx[split]["images"]}
        for s in read_split(tmp_path / "out", split):
            meta = json.loads(s["json"])
            assert s["jpg"] == jpgs[meta["image_id"]]
            for q in meta["questions"]:
                a = anns[q["question_id"]]
                assert q["answer"] == a["multiple_choice_answer"]
                assert q["answers"] == [x["answer"] for x in a["answers"]]
    with pytest.raises(FileNotFoundError, match=r"v2_OpenEnded_mscoco_train2014_questions\.json"):
        vqav2.convert(tmp_path / "nothing", tmp_path / "out2")


def test_listops_conversion(tmp_path):
    index = listops.convert(tmp_path / "out", limit=6, progress=False)
    assert {s: v["samples"] for s, v in index["splits"].items()} == {"train": 6, "val": 6, "test": 6}
    again = listops.convert(tmp_path / "out2", limit=6, progress=False)
    for split in ("train", "val", "test"):  # fixed seeds: reproducible, and splits differ
        a, b = read_split(tmp_path / "out", split), read_split(tmp_path / "out2", split)
        assert [s["txt"] for s in a] == [s["txt"] for s in b]
    assert read_split(tmp_path / "out", "train")[0]["txt"] != read_split(tmp_path / "out", "val")[0]["txt"]
    assert index["meta"]["vocab"] == list(listops.VOCAB)


def test_shard_writer_refuses_pickles_and_dotted_keys(tmp_path):
    with ShardSink(tmp_path, "train", progress=False) as sink:
        with pytest.raises(ValueError, match="refusing to write .pyd"):
            sink.write({"__key__": "a", "pyd": {"x": 1}})
        with pytest.raises(ValueError, match="__key__"):
            sink.write({"__key__": "a.b", "txt": "x"})
        with pytest.raises(ValueError):
            sink.write({"__key__": "c", "npy": np.array([object()], dtype=object)})
        sink.write({"__key__": "ok", "txt": "fine", "npy": np.arange(3), "bin": b"\x00"})
    assert sink.summary.samples == 1 and len(sink.summary.shards) == 1


def test_cli_convert_and_errors(tmp_path, capsys):
    assert data_main(["convert", "listops", "--out", str(tmp_path / "lo"), "--limit", "3",
                      "--no-progress"]) == 0
    assert (tmp_path / "lo" / "index.json").is_file()
    assert "train: 3 samples" in capsys.readouterr().out
    assert data_main(["info", str(tmp_path / "lo")]) == 0
    rc = data_main(["convert", "cifar10", "--src", str(tmp_path / "none"), "--out", str(tmp_path / "c")])
    err = capsys.readouterr().err
    assert rc == 2 and "data_batch_1" in err and "cs.toronto.edu" in err
    assert data_main(["convert", "enwik8", "--out", str(tmp_path / "e")]) == 2  # --src required
    fixtures.write_text(tmp_path / "src", "text8", n_bytes=5000)
    assert data_main(["convert", "text8", "--src", str(tmp_path / "src"), "--out",
                      str(tmp_path / "t8"), "--no-progress"]) == 0


def test_pydoc_corpus_needs_no_source_and_loads(tmp_path):
    """`zoo data convert pydoc`: CPython's own reference text, byte-exact in the shards."""
    import torch

    from zoo.data.pipeline import make_loader
    assert data_main(["convert", "pydoc", "--out", str(tmp_path / "p"), "--no-progress"]) == 0
    index = read_index(tmp_path / "p")
    data = text.pydoc_bytes()
    assert len(data) > 300_000 and index["dataset"] == "pydoc" and index["meta"]["total_bytes"] == len(data)
    assert index["splits"]["train"]["items"] + index["splits"]["val"]["items"] + index["splits"]["test"]["items"] == len(data) - 3
    assert all(len(index["splits"][s]["shards"]) >= 2 for s in ("val", "test"))  # several eval shards
    loader = make_loader("pydoc", tmp_path / "p", batch_size=2, train=False, seq_len=128, split="val")
    batch = next(iter(loader))
    tokens, labels = batch["input_ids"], batch["labels"]  # (2, 128) each: labels are the next bytes
    assert tokens.shape == labels.shape == (2, 128) and torch.equal(tokens[:, 1:], labels[:, :-1])
    start = text.split_bounds(len(data))["val"][0]
    assert bytes(tokens[0].tolist()) + bytes(labels[0, -1:].tolist()) in data[start:]


def test_pystdlib_corpus_is_the_stdlib_sources(tmp_path):
    """`zoo data convert pystdlib`: the running Python's Lib/**/*.py, each file after its path line."""
    import os

    data = text.pystdlib_bytes()
    assert len(data) > 5_000_000 and b"# file: os.py\n" in data
    assert data.startswith(b"# file: ")
    assert data_main(["convert", "pystdlib", "--out", str(tmp_path / "s"), "--limit", "2", "--no-progress"]) == 0
    index = read_index(tmp_path / "s")
    assert index["dataset"] == "pystdlib" and index["meta"]["total_bytes"] == len(data)
    assert index["splits"]["train"]["items"] == 2 * 65536 and os.path.getsize(tmp_path / "s" / "index.json") > 0
