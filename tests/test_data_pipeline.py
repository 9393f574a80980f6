"""Pipelines: batch-dict contracts, exact-once eval, resampled training, broken shards counted."""
from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest
import torch

from zoo.data import cifar10, coco, fixtures, listops, text, vqav2
from zoo.data.pipeline import DataSkipError, make_loader
from zoo.data.shards import shard_urls


@pytest.fixture(scope="module")
def cifar(tmp_path_factory):
    """40 train images in 5 shards of 8, 8 test images."""
    root = tmp_path_factory.mktemp("cifar")
    fx = fixtures.write_cifar10(root / "src", per_batch=8)
    cifar10.convert(root / "src", root / "shards", maxcount=8, progress=False)
    return root / "shards", fx


def digest(image: torch.Tensor) -> str:
    return hashlib.sha1(image.contiguous().numpy().tobytes()).hexdigest()


def all_digests(loader) -> list[str]:
    return [digest(img) for batch in loader for img in batch["image"]]


def test_pixels_batch(cifar):
    folder, fx = cifar
    batches = list(make_loader("cifar10", folder, batch_size=16, train=False, split="train"))
    assert [b["image"].shape[0] for b in batches] == [16, 16, 8]  # eval keeps the partial batch
    b = batches[0]
    assert set(b) == {"image"} and b["image"].dtype == torch.uint8 and b["image"].shape[1:] == (3, 32, 32)
    expected = torch.from_numpy(fx["train"][0]).permute(0, 3, 1, 2)  # (N, 3, 32, 32)
    assert torch.equal(torch.cat([b["image"] for b in batches]), expected)


@pytest.mark.parametrize("eval_split,workers", [("shard", 0), ("shard", 2), ("sample", 2)])
def test_eval_yields_every_sample_exactly_once(cifar, monkeypatch, eval_split, workers):
    folder, fx = cifar
    expected = sorted(digest(img) for img in torch.from_numpy(fx["train"][0]).permute(0, 3, 1, 2))
    got = []
    for rank in range(2):  # two ranks in turn; webdataset reads RANK / WORLD_SIZE
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        loader = make_loader("pixels", folder, batch_size=3, train=False, split="train",
                             num_workers=workers, eval_split=eval_split)
        mine = all_digests(loader)
        assert 0 < len(mine) < len(expected)
        got += mine
    assert sorted(got) == expected


def test_training_stream_resampled_with_epochs(cifar, monkeypatch):
    folder, _ = cifar
    loader = make_loader("pixels", folder, batch_size=4, train=True, split="train", seed=0)
    assert loader.epoch_batches == 10  # 40 samples / 4
    first = list(loader)
    assert len(first) == 10 and all(b["image"].shape == (4, 3, 32, 32) for b in first)
    assert len(list(loader)) == 10  # the next epoch, same length, still streaming
    again = make_loader("pixels", folder, batch_size=4, train=True, split="train", seed=0)
    assert torch.equal(next(iter(again))["image"], first[0]["image"])  # seeded: reproducible
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    other = make_loader("pixels", folder, batch_size=4, train=True, split="train", seed=0,
                        num_workers=2)
    assert other.epoch_batches == 5
    batches = list(other)
    assert len(batches) == 6  # ceil(5 / 2 workers) each
    assert not torch.equal(batches[0]["image"], first[0]["image"])


def corrupt(folder: Path) -> int:
    """Truncate shard 1 mid-file and garble one PNG in shard 3; return the most that survive."""
    urls = shard_urls(folder, "train")
    raw = Path(urls[1]).read_bytes()
    Path(urls[1]).write_bytes(raw[: len(raw) // 2])
    with tarfile.open(urls[3]) as tf:
        members = [(m, tf.extractfile(m).read()) for m in tf.getmembers()]
    with tarfile.open(urls[3], "w") as tf:
        for i, (m, data) in enumerate(members):
            if i == 1:  # the first sample's png (json sorts before png)
                assert m.name.endswith(".png")
                data = data[:40] + b"\x00" * (len(data) - 40)
            m.size = len(data)
            tf.addfile(m, io.BytesIO(data))
    return 40 - 1 - 1  # the truncated shard loses at least its last sample


def test_corrupt_shards_are_skipped_and_counted(cifar, tmp_path):
    folder, fx = cifar
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in folder.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    max_good = corrupt(broken)
    originals = {digest(img) for img in torch.from_numpy(fx["train"][0]).permute(0, 3, 1, 2)}

    loader = make_loader("pixels", broken, batch_size=5, train=False, split="train",
                         max_skip_fraction=0.5)
    got = all_digests(loader)
    assert set(got) <= originals  # nothing zero-filled, nothing invented
    assert len(got) == len(set(got)) and 40 - 8 - 1 <= len(got) <= max_good
    assert loader.skips.skipped >= 2 and loader.skips.seen == len(got)

    strict = make_loader("pixels", broken, batch_size=5, train=False, split="train",
                         max_skip_fraction=0.01)
    with pytest.raises(DataSkipError, match="max_skip_fraction"):
        list(strict)

    train = make_loader("pixels", broken, batch_size=5, train=True, split="train", seed=1,
                        epoch_batches=20, max_skip_fraction=0.5, check_after=10**9)
    for b in train:
        assert all(digest(img) in originals for img in b["image"])
    assert train.skips.skipped > 0


def test_bytes_windows(tmp_path):
    data = fixtures.write_text(tmp_path / "src", "enwik8", n_bytes=20_000)
    text.convert(tmp_path / "src", tmp_path / "out", "enwik8", chunk_size=300, progress=False)
    loader = make_loader("enwik8", tmp_path / "out", batch_size=4, train=False, split="val",
                         seq_len=64)
    targets = []
    for b in loader:
        assert set(b) == {"input_ids", "labels"} and b["input_ids"].dtype == torch.int64
        keep = b["labels"] != -100
        # labels are the next bytes of the inputs wherever both are real
        assert torch.equal(b["labels"][:, :-1][keep[:, 1:]], b["input_ids"][:, 1:][keep[:, 1:]])
        targets += b["labels"][keep].tolist()
    assert bytes(targets) == data[18_001:19_000]  # every val byte but the first, exactly once
    train = make_loader("enwik8", tmp_path / "out", batch_size=8, train=True, seq_len=64, seed=0)
    b = next(iter(train))
    assert b["input_ids"].shape == b["labels"].shape == (8, 64)
    assert torch.equal(b["input_ids"][:, 1:], b["labels"][:, :-1])
    assert train.epoch_batches == -(-(17_999 // 64) // 8)
    with pytest.raises(ValueError, match="seq_len"):
        make_loader("bytes", tmp_path / "out", batch_size=2, train=True)


def test_listops_batch(tmp_path):
    listops.convert(tmp_path, limit=5, progress=False)
    b = next(iter(make_loader("listops", tmp_path, batch_size=5, train=False, split="test")))
    assert set(b) == {"input_ids", "attention_mask", "labels"}
    assert b["input_ids"].shape == b["attention_mask"].shape == (5, 2000)
    assert b["attention_mask"].dtype == torch.bool and b["labels"].dtype == torch.int64
    assert b["labels"].shape == (5,) and int(b["labels"].max()) <= 9
    lengths = b["attention_mask"].sum(1)
    assert (lengths > 500).all() and (b["input_ids"][~b["attention_mask"]] == listops.PAD_ID).all()


def test_vqav2_batch(tmp_path):
    fixtures.write_vqav2(tmp_path / "src", n_images=2, questions_per_image=3)
    index = vqav2.convert(tmp_path / "src", tmp_path / "out", top_k=2, progress=False)
    loader = make_loader("vqav2", tmp_path / "out", batch_size=4, train=False, split="val",
                         image_size=32, seq_len=16)
    batches = list(loader)
    b = batches[0]
    assert {"image", "question_ids", "question_mask", "labels", "question_id", "answers"} <= set(b)
    assert b["image"].dtype == torch.float32 and b["image"].shape == (4, 3, 32, 32)
    assert 0.0 <= float(b["image"].min()) and float(b["image"].max()) <= 1.0
    assert b["question_ids"].shape == b["question_mask"].shape == (4, 16)
    assert b["question_mask"].dtype == torch.bool and b["question_id"].dtype == torch.int64
    assert len(b["answers"][0]) == 10
    labels = torch.cat([x["labels"] for x in batches])
    assert len(labels) == 6 and set(labels.tolist()) <= {-100, 0, 1}  # out-of-vocabulary -> -100
    assert len(index["meta"]["answers"]) == 2


@pytest.mark.parametrize("karpathy", [False, True])
def test_caption_batch(tmp_path, karpathy):
    fx = fixtures.write_coco(tmp_path / "src", n_train=4, n_val=2, karpathy=karpathy)
    coco.convert(tmp_path / "src", tmp_path / "out", progress=False)
    from zoo.data.tokenizer import EOT_ID, SOT_ID, decode

    b = next(iter(make_loader("coco", tmp_path / "out", batch_size=2, train=True, seed=0,
                              image_size=24, seq_len=20)))
    assert set(b) == {"image", "caption_ids", "caption_mask", "image_id", "references"}
    assert b["image"].shape == (2, 3, 24, 24) and b["image"].dtype == torch.float32
    assert b["caption_ids"].shape == b["caption_mask"].shape == (2, 20)
    assert (b["caption_ids"][:, 0] == SOT_ID).all()
    ends = b["caption_mask"].sum(1) - 1
    assert (b["caption_ids"][torch.arange(2), ends] == EOT_ID).all()
    refs = {r["image_id"]: r["captions"] for r in fx["train"]}
    for i, image_id in enumerate(b["image_id"].tolist()):
        assert decode(b["caption_ids"][i]) in [c.lower() for c in refs[image_id]]
