"""`zoo eval` runner end to end on tiny fixture models, in one process and in two (gloo, CPU).

The registry and data pipeline are replaced by `_fake_load` (cli._load is the one function that
knows them), so this tests the runner, the merge, the reports and the pictures on their own.
"""
import argparse
import json
import os

import pytest
from dist_env import free_port
import torch
import torch.multiprocessing as mp
from torch import nn

from zoo.eval import cli
from zoo.eval import distributed as D

VOCAB = ["circle", "rectangle", "triangle", "red", "blue", "green", "yes", "no"]


class FakeVQA(nn.Module):
    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))
        self.answer_vocab = VOCAB

    def forward(self, image, question_ids, question_mask=None, **rest):
        assert "labels" not in rest and "answers" not in rest
        return {"logits": nn.functional.one_hot(question_ids[:, 0] % 8, 8).float() + self.dummy}


class FakeCaptioner(nn.Module):
    """generate() returns the bytes of a caption chosen by the image's mean brightness."""

    CAPTIONS = ["a small red circle", "a large blue square in the top left"]

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def generate(self, batch, max_new_tokens, use_cache=True, temperature=0.0, top_k=None):
        assert set(batch) == {"image"}  # the reference caption never reaches generation
        bright = batch["image"].float().mean((1, 2, 3)) > 127
        return [list(self.CAPTIONS[int(b)].encode())[:max_new_tokens] for b in bright]


class UniformPixels(nn.Module):
    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, image, **_):
        return {"logits": torch.zeros(image.shape[0], image[0].numel(), 256)}

    def sample(self, n):
        return torch.randint(0, 256, (n, 3, 8, 8), dtype=torch.uint8)


class FirstToken(nn.Module):
    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, input_ids, attention_mask=None):
        return {"logits": nn.functional.one_hot(input_ids[:, 0] % 10, 10).float()}


class CausalMeanLM(nn.Module):
    max_seq_len = 32

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.emb = nn.Parameter(torch.randn(256, 8, generator=g))
        self.out = nn.Parameter(torch.randn(8, 256, generator=g))

    def forward(self, input_ids, **_):
        h = self.emb[input_ids].cumsum(1) / torch.arange(1, input_ids.shape[1] + 1)[:, None]
        return {"logits": h @ self.out}


def _batches(task, n, bs):
    g = torch.Generator().manual_seed(1)
    out = []
    for i0 in range(0, n, bs):
        b = min(bs, n - i0)
        ids = list(range(i0, i0 + b))
        image = torch.randint(0, 256, (b, 3, 8, 8), generator=g, dtype=torch.uint8)
        if task == "vqa":
            q = torch.tensor([[i * 3, 1, 2, 0] for i in ids])
            out.append({"image": image, "question_ids": q, "question_mask": q > 0,
                        "question_id": ids, "answers": [VOCAB[(i * 5) % 8] for i in ids],
                        "question_type": ["shape" if i % 2 else "color" for i in ids],
                        "answer_type": ["other"] * b, "question": [f"q{i}?" for i in ids]})
        elif task == "captioning":
            out.append({"image": image, "image_id": [f"img{i}" for i in ids],
                        "references": [["a small red circle", "a red circle"]] * b})
        elif task == "bpd":
            out.append({"image": image, "__key__": [f"px{i}" for i in ids]})
        elif task == "listops":
            x = torch.tensor([[i, 5, 6] for i in ids])
            out.append({"input_ids": x, "attention_mask": torch.ones_like(x, dtype=torch.bool),
                        "labels": torch.tensor([i % 10 if i % 3 else 0 for i in ids]),
                        "__key__": [f"lo{i}" for i in ids]})
    return out


MODELS = {"vqa": FakeVQA, "captioning": FakeCaptioner, "bpd": UniformPixels,
          "listops": FirstToken, "bpc": CausalMeanLM}


def _fake_load(args, rank, world):
    if os.environ.get("FAKE_FAIL_RANK") == str(rank):
        raise RuntimeError("shard unreadable")
    model = MODELS[args.task]()
    loaded = cli.Loaded(model=model, name=f"fake_{args.task}", dataset="fixture")
    if args.task == "bpc":
        loaded.text = bytes(range(200)) * 2
    else:
        n = int(os.environ.get("FAKE_N", "11"))
        loaded.batches = list(D.shard(_batches(args.task, n, 3), rank, world))
        loaded.answer_vocab = VOCAB
        loaded.decode_ids = lambda ids: bytes(ids).decode()
    return loaded


def _args(task, out, *extra):
    p = cli.add_arguments(argparse.ArgumentParser())
    return p.parse_args(["fake", "--task", task, "--out", str(out), "--device", "cpu", "--split", "test",
                         "--caption-metrics", "BLEU,ROUGE-L,CIDEr-D", *extra])


@pytest.fixture
def fake_load(monkeypatch):
    monkeypatch.setattr(cli, "_load", _fake_load)
    monkeypatch.delenv("WORLD_SIZE", raising=False)


@pytest.mark.parametrize("task, key, files", [
    ("vqa", "overall", ["sheet.png"]),
    ("captioning", "CIDEr-D", ["sheet.png"]),
    ("bpd", "bits_per_dim", ["samples.png"]),
    ("listops", "accuracy", ["confusion.png"]),
    ("bpc", "bits_per_char", []),
])
def test_run_writes_json_markdown_and_pictures(fake_load, tmp_path, task, key, files):
    assert cli.run(_args(task, tmp_path, "--samples", "8")) == 0
    rec = json.loads((tmp_path / "eval.json").read_text())
    assert rec["task"] == task and rec["model"] == f"fake_{task}" and rec["split"] == "test"
    assert key in rec["scores"] and rec["git_commit"] and rec["created"]
    md = (tmp_path / "eval.md").read_text()
    assert f"| {key} |" in md and "| model | fake_" in md
    for f in files:
        assert (tmp_path / f).read_bytes()[:4] == b"\x89PNG"
    if task == "vqa":
        assert rec["n_samples"] == 11 and rec["scores"]["per_question_type"].keys() == {
            "color", "shape"}
    if task == "captioning":
        assert rec["decoding"]["decode"] == "greedy" and rec["decoding"]["max_len"] == 30
    if task == "bpd":
        assert rec["scores"]["bits_per_dim"] == 8.0 and rec["n_samples"] == 11
    if task == "listops":
        assert sum(map(sum, rec["scores"]["confusion_matrix"])) == 11
    if task == "bpc":
        assert rec["scores"]["chars"] == 399 and rec["decoding"] == {"context": 32, "stride": 16}


def test_limit_and_beam_without_support(fake_load, tmp_path):
    assert cli.run(_args("listops", tmp_path, "--limit", "4")) == 0
    assert json.loads((tmp_path / "eval.json").read_text())["n_samples"] == 4
    with pytest.raises(NotImplementedError, match="beam"):
        cli.run(_args("captioning", tmp_path, "--decode", "beam"))


def _worker(rank, world, port, out):
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    cli._load = _fake_load
    try:
        # 11 VQA questions in 4 batches: ranks get 2 batches each (6 and 5 questions).
        assert cli.run(_args("vqa", out / "vqa", "--pictures", "0")) == 0
        # One batch in all: rank 1 gets nothing and must neither hang nor fail.
        os.environ["FAKE_N"] = "3"
        assert cli.run(_args("bpd", out / "bpd", "--pictures", "0")) == 0
        # A rank that fails still joins the gather: every rank returns 1, none hangs.
        os.environ["FAKE_FAIL_RANK"] = "1"
        assert cli.run(_args("listops", out / "fail", "--pictures", "0")) == 1
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.timeout(120)
def test_two_processes_score_exactly_the_one_process_sample_set(fake_load, tmp_path,
                                                                 monkeypatch):
    mp.spawn(_worker, args=(2, free_port(), tmp_path / "two"), nprocs=2, join=True)
    assert cli.run(_args("vqa", tmp_path / "one" / "vqa", "--pictures", "0")) == 0
    monkeypatch.setenv("FAKE_N", "3")
    assert cli.run(_args("bpd", tmp_path / "one" / "bpd", "--pictures", "0")) == 0
    assert not (tmp_path / "two" / "fail" / "eval.json").exists()
    for task in ("vqa", "bpd"):
        one = json.loads((tmp_path / "one" / task / "eval.json").read_text())
        two = json.loads((tmp_path / "two" / task / "eval.json").read_text())
        assert two["extra"]["world_size"] == 2 and one["extra"]["world_size"] == 1
        assert one["extra"]["samples_digest"]  # the fixtures carry sample ids
        assert two["extra"]["samples_digest"] == one["extra"]["samples_digest"]
        assert two["n_samples"] == one["n_samples"]
        assert two["scores"] == one["scores"]


def test_load_glue_on_real_text_shards(monkeypatch, tmp_path):
    """cli._load against zoo.data's real converter and pipeline (the registry is faked)."""
    import zoo

    fixtures = pytest.importorskip("zoo.data.fixtures")
    text = pytest.importorskip("zoo.data.text")
    pytest.importorskip("webdataset")
    fixtures.write_text(tmp_path / "src", "enwik8", n_bytes=40_980)  # test split: 2,049 bytes
    text.convert(tmp_path / "src", tmp_path / "shards", "enwik8", chunk_size=4096, progress=False)
    monkeypatch.setattr(zoo, "create_model", lambda name: CausalMeanLM(), raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    results = {}
    for name, extra in {"windows": [], "sliding": ["--context", "32", "--stride", "32"]}.items():
        out = tmp_path / name
        args = cli.add_arguments(argparse.ArgumentParser()).parse_args(
            ["fake", "--task", "bpc", "--data", str(tmp_path / "shards"), "--split", "test",
             "--out", str(out), "--device", "cpu"] + extra)
        assert cli.run(args) == 0
        results[name] = json.loads((out / "eval.json").read_text())
    # The pipeline's non-overlapping windows and sliding with stride = context over the
    # reassembled split score the same 2,048 = 64 x 32 bytes with the same contexts.
    a, b = results["windows"]["scores"], results["sliding"]["scores"]
    assert a["chars"] == b["chars"] == 2048
    assert results["windows"]["dataset"] == "enwik8" and results["windows"]["split"] == "test"
    assert b["bits_per_char"] == pytest.approx(a["bits_per_char"], rel=1e-9)
