"""``zoo eval CHECKPOINT_OR_NAME --task ... --data SHARDS``: score a model, write eval.json + eval.md.

Works in one process and under ``deepspeed`` / ``torchrun``: each rank scores its part of the
split, rank 0 merges per-sample records (checking for duplicates) and writes the report. The
only code that knows the registry and the data pipeline is ``_load``; everything else runs on
plain models and iterables (see ``tasks.py``).
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import os
import time
import traceback
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from . import distributed as D
from . import pictures, tasks
from .likelihood import AutoId
from .report import make_record, print_report, write_report

log = logging.getLogger("zoo.eval")
TASKS = ("captioning", "vqa", "bpd", "bpc", "listops")
ID_KEYS = {"captioning": "image_id", "vqa": "question_id", "bpd": "__key__", "bpc": "__key__",
           "listops": "__key__"}


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Arguments of ``zoo eval`` (the lead's zoo/cli.py adds them to its subparser)."""
    p = parser
    p.add_argument("model", metavar="CHECKPOINT_OR_NAME",
                   help="registry name (e.g. captioner_small_bigbird.easyvqa) or checkpoint path")
    p.add_argument("--task", required=True, choices=TASKS)
    p.add_argument("--data", metavar="SHARDS",
                   help="shard folder with index.json (or a brace pattern); for --task bpc "
                        "also a raw text file of the split")
    p.add_argument("--split", default=None,
                   help="split of a shard folder (default: val, else test, as the pipeline does)")
    p.add_argument("--decode", choices=("greedy", "beam"), default="greedy")
    p.add_argument("--beams", type=int, default=5, help="beam width for --decode beam")
    p.add_argument("--max-len", type=int, default=30, help="max new caption tokens")
    p.add_argument("--caption-metrics", default="BLEU,METEOR,ROUGE-L,CIDEr-D,SPICE",
                   help="comma-separated subset (METEOR starts a 2 GB JVM; SPICE runs only if "
                        "Stanford CoreNLP is installed)")
    p.add_argument("--context", type=int, default=None,
                   help="bpc: sliding-window length over the whole split (raw file or text "
                        "shards); without it, shard folders are scored in non-overlapping "
                        "windows of the model's length")
    p.add_argument("--stride", type=int, default=None,
                   help="bpc: tokens a window advances; each byte is scored once (default: "
                        "context // 2)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--limit", type=int, default=None, help="score at most N samples per process")
    p.add_argument("--device", default=None, help="default: this rank's GPU, else CPU")
    p.add_argument("--pictures", type=int, default=16,
                   help="test images in the sheet (captioning, vqa); 0: no pictures at all")
    p.add_argument("--samples", type=int, default=None,
                   help="bpd: images to sample for the grid (default 16 on a GPU, 0 on CPU, "
                        "where sampling thousands of sub-pixels one by one takes minutes)")
    p.add_argument("--records", metavar="FILE", default=None,
                   help="score saved records instead of running a model (a training run's "
                        "eval_records.json, e.g. captions decoded on a GPU machine without Java); "
                        "CHECKPOINT_OR_NAME then only names the model in the report")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="report folder (default: next to the checkpoint, else runs/eval/NAME-TASK)")
    p.add_argument("--local_rank", "--local-rank", type=int, default=None,
                   help=argparse.SUPPRESS)  # passed by the deepspeed launcher; env wins
    return p


@dataclass
class Loaded:
    """What ``_load`` hands to the generic runner."""

    model: torch.nn.Module
    name: str
    batches: Iterable[Mapping] | None = None  # this rank's batches
    text: bytes | None = None  # bpc with a sliding context: the whole split
    dataset: str | None = None
    answer_vocab: list[str] | None = None
    decode_ids: Callable | None = None
    checkpoint_dir: Path | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # recorded with the scores
    notes: list[str] = field(default_factory=list)


PIPELINE_KINDS = {"captioning": "caption", "vqa": "vqa", "bpd": "pixels", "bpc": "bytes",
                  "listops": "listops"}


def _load(args: argparse.Namespace, rank: int, world: int) -> Loaded:
    """THE glue with zoo.registry (issue 4) and zoo.data (issue 5) — adapt here if they change.

    Imports are lazy so ``zoo eval --help`` and the scoring code work without those modules.
    The eval loader is exact-once: webdataset's ``split_by_node`` deals shards to this rank.
    """
    import zoo

    path = Path(args.model)
    if path.is_file():  # a safetensors export carries its model name and config
        model = zoo.load_checkpoint(path)
    else:
        model = zoo.create_model(args.model)
    name = getattr(model, "model_name", None) or args.model
    ckpt_dir = path.parent if path.is_file() else (path if path.is_dir() else None)
    loaded = Loaded(model=model, name=str(name), dataset=args.data, checkpoint_dir=ckpt_dir)
    if not args.data:
        raise SystemExit("zoo eval: --data is required (shard folder, brace pattern or file)")
    if args.task == "bpc" and Path(args.data).is_file() and not _is_shard(args.data):
        loaded.text = Path(args.data).read_bytes()  # the raw split: sliding-window evaluation
        return loaded

    from zoo.data.pipeline import make_loader
    from zoo.data.shards import INDEX_NAME, read_index, shard_urls

    index = read_index(args.data) if (Path(args.data) / INDEX_NAME).is_file() else {}
    loaded.dataset = index.get("dataset", args.data)
    if args.split is None and index:  # the pipeline's own default for evaluation
        args.split = next((s for s in ("val", "test") if s in index.get("splits", {})), None)
    if args.task == "bpc" and args.context and index:  # sliding context over the whole split
        loaded.text = _read_text_split(shard_urls(args.data, args.split))
        return loaded
    cfg = getattr(model, "config", None)
    have, want = index.get("meta", {}).get("image_size"), getattr(cfg, "image_size", None)
    if args.task == "bpd" and have and want and tuple(have) != (want, want):
        raise SystemExit(f"zoo eval: {loaded.name} models {want}x{want} images, "
                         f"{loaded.dataset} has {have[0]}x{have[1]}")
    kw: dict[str, Any] = {}
    if getattr(cfg, "image_size", None) and args.task in ("vqa", "captioning"):
        kw["image_size"] = cfg.image_size  # photos are resized to what the model was built for
    if args.task == "vqa":
        vocab = getattr(model, "answer_vocab", None) or index.get("meta", {}).get("answers")
        if not vocab:
            raise SystemExit("zoo eval: no answer vocabulary (model.answer_vocab or index meta)")
        loaded.answer_vocab = kw["answers"] = list(vocab)
        kw["seq_len"] = getattr(cfg, "max_question_len", None)
    if args.task == "listops":
        kw["seq_len"] = getattr(cfg, "max_seq_len", None)  # input tokens; the model adds CLS
    if args.task == "bpc":
        kw["seq_len"] = _model_length(model)
        loaded.settings = {"window": kw["seq_len"], "overlap": 0}
    if args.task == "captioning":
        from zoo.data.tokenizer import decode

        loaded.decode_ids = getattr(model, "decode_caption", None) or decode
    loaded.batches = make_loader(PIPELINE_KINDS[args.task], args.data, args.batch_size,
                                 train=False, split=args.split, **kw)
    if args.task == "vqa":
        loaded.batches = _with_question_text(loaded.batches)
    return loaded


def _with_question_text(batches: Iterable[Mapping]) -> Iterator[Mapping]:
    """Add the question as text (decoded from its tokens) for the picture sheet."""
    from zoo.data.tokenizer import decode

    for batch in batches:
        if "question" not in batch and "question_ids" in batch:
            batch = {**batch, "question": [decode(q) for q in batch["question_ids"]]}
        yield batch


def _read_text_split(urls: list[str]) -> bytes:
    """Reassemble a text split from its byte-chunk shards (zoo.data.text: chunk k holds bytes
    [k*C, (k+1)*C + 1) with its offset in the json). Reads only .bin and .json members."""
    import json
    import tarfile

    chunks: dict[str, dict] = {}
    for url in urls:
        with tarfile.open(url) as tar:
            for m in tar:
                key, _, ext = m.name.partition(".")
                if m.isfile() and ext in ("bin", "json"):
                    chunks.setdefault(key, {})[ext] = tar.extractfile(m).read()
    text = bytearray()
    for c in sorted((json.loads(c["json"]) | {"bin": c["bin"]} for c in chunks.values()),
                    key=lambda c: c["offset"]):
        if c["offset"] > max(0, len(text) - 1):
            raise ValueError(f"text shards leave a gap before offset {c['offset']}")
        text[c["offset"]:] = c["bin"]
    return bytes(text)


def _is_shard(path: str) -> bool:
    return path.endswith((".tar", ".tar.gz", ".tgz", ".json")) or "{" in path


def _limit(batches: Iterable[Mapping], n: int | None) -> Iterator[Mapping]:
    """Stop after ``n`` samples, cutting the last batch (tensors and lists alike)."""
    if n is None:
        yield from batches
        return
    seen = 0
    for batch in batches:
        size = len(next(iter(batch.values())))
        if seen + size > n:
            batch = {k: v[: n - seen] for k, v in batch.items()}
        yield batch
        seen += min(size, n - seen)
        if seen >= n:
            return


def _default_out(args: argparse.Namespace, loaded: Loaded) -> Path:
    if args.out:
        return Path(args.out)
    if loaded.checkpoint_dir is not None:
        return loaded.checkpoint_dir / f"eval-{args.task}"
    return Path("runs") / "eval" / f"{loaded.name.replace('/', '_')}-{args.task}"


def _device(args: argparse.Namespace) -> torch.device:
    if args.device:
        return torch.device(args.device)
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def evaluate(args: argparse.Namespace, loaded: Loaded, rank: int = 0, world: int = 1,
             gallery: dict | None = None) -> tuple[dict, dict[str, Any]]:
    """This rank's records for the task, and the settings to record with the scores."""
    model = loaded.model
    device = _device(args)
    model.to(device)
    common = dict(device=device, rank=rank)
    batches = _limit(loaded.batches, args.limit) if loaded.batches is not None else None
    if batches is not None and gallery is not None and args.task in ("captioning", "vqa"):
        batches = pictures.tap_images(batches, gallery, args.pictures, ID_KEYS[args.task])
    settings: dict[str, Any] = {}
    if args.task == "captioning":
        settings = {"decode": args.decode, "max_len": args.max_len, "temperature": 0.0,
                    "top_k": None, "use_cache": True}
        if args.decode == "beam":
            settings["beams"] = args.beams
        recs = tasks.caption_records(model, batches, decode_ids=loaded.decode_ids,
                                     decode=args.decode, beams=args.beams,
                                     max_len=args.max_len, **common)
    elif args.task == "vqa":
        settings = {"decode": "argmax over answer vocabulary",
                    "n_answers": len(loaded.answer_vocab)}
        recs = tasks.vqa_records(model, batches, answer_vocab=loaded.answer_vocab, **common)
    elif args.task == "listops":
        recs = tasks.listops_records(model, batches, **common)
    elif args.task == "bpd":
        recs = tasks.pixel_records(model, batches, id_key="__key__", **common)
    elif args.task == "bpc" and loaded.text is not None:
        text = loaded.text[: args.limit + 1] if args.limit else loaded.text
        context = args.context or _model_length(model)
        stride = args.stride or max(1, context // 2)
        limit = _model_length(model, default=context)
        if context > limit:
            raise ValueError(f"--context {context} exceeds the model's sequence length {limit}")
        settings = {"context": context, "stride": stride}
        recs = tasks.sliding_records(model, text, context=context, stride=stride,
                                     batch_size=args.batch_size, world_size=world, **common)
    elif args.task == "bpc":
        recs = tasks.lm_records(model, batches, id_key="__key__", **common)
    else:
        raise ValueError(f"unknown task {args.task!r}")
    return recs, {**settings, **loaded.settings}


def _model_length(model: torch.nn.Module, default: int | None = None) -> int:
    """The longest input the model takes (its ``max_seq_len``)."""
    for attr in ("max_seq_len", "seq_len", "block_size", "max_len"):
        for obj in (model, getattr(model, "config", None)):
            v = getattr(obj, attr, None)
            if isinstance(v, int):
                return v
    if default is not None:
        return default
    raise ValueError("cannot tell the model's sequence length: pass --context")


def run(args: argparse.Namespace) -> int:
    """Evaluate, merge on rank 0, write eval.json + eval.md and pictures; 0 on success."""
    if args.records:
        return _score_saved(args)
    rank, world = D.init_from_env()
    t0 = time.time()
    gallery: dict | None = {} if (rank == 0 and args.pictures > 0) else None
    if world == 1:  # one process: let errors surface with their own traceback
        records, settings = evaluate(args, loaded := _load(args, rank, world), 0, 1, gallery)
        _report(args, loaded, records, settings, gallery, 1, time.time() - t0)
        return 0
    # Several ranks: a failing rank must still reach the one collective, or the others hang.
    error, records, settings, loaded = None, {}, {}, None
    try:
        loaded = _load(args, rank, world)
        records, settings = evaluate(args, loaded, rank, world, gallery)
    except Exception as exn:  # noqa: BLE001 - reported on rank 0 below
        traceback.print_exc()
        error = f"rank {rank}: {exn!r}"
    parts = D.gather_to_rank0((error, records))  # after every rank finished its share
    rc = 0
    if rank == 0:
        try:
            errors = [e for e, _ in parts if e]
            if errors:
                raise RuntimeError("evaluation failed on " + "; ".join(errors))
            merged = D.merge_records([r for _, r in parts])
            _report(args, loaded, merged, settings, gallery, world, time.time() - t0)
        except Exception:  # noqa: BLE001 - keep the other ranks from waiting on the broadcast
            traceback.print_exc()
            rc = 1
    return D.broadcast_int(rc)


def _score_saved(args: argparse.Namespace) -> int:
    """``--records FILE``: score records written by a training run's final evaluation."""
    import json

    path = Path(args.records)
    if not path.is_file():
        raise FileNotFoundError(f"--records: {path} not found (a training run writes eval_records.json)")
    merged = json.loads(path.read_text())
    need = {"captioning": "caption", "vqa": "prediction"}.get(args.task)
    if need is None:
        raise ValueError(f"--records scores captioning or vqa records, not --task {args.task}")
    if not merged or not all(need in r for r in merged.values()):
        raise ValueError(f"--records: {path} holds no {args.task} records (each needs a {need!r} field)")
    t0 = time.time()
    loaded = Loaded(model=None, name=args.model, notes=[f"scored from {path}"])
    args.pictures = 0  # no images in the records
    _report(args, loaded, merged, {}, None, 1, time.time() - t0)
    return 0


def samples_digest(records: Mapping) -> str | None:
    """sha1 of the sorted sample ids: equal digests mean the same sample set was scored."""
    if any(isinstance(k, AutoId) for k in records):
        return None  # the data carries no sample ids: nothing stable to digest
    ids = sorted(repr(k) for k in records)
    return hashlib.sha1("\n".join(ids).encode()).hexdigest()


def _report(args, loaded: Loaded, merged: dict, settings: dict, gallery: dict | None,
            world: int, seconds: float) -> None:
    kw = {}
    notes = list(loaded.notes)
    if args.task == "captioning":
        from .captioning import spice_available

        kw["metrics"] = [m.strip() for m in args.caption_metrics.split(",") if m.strip()]
        ok, why = spice_available()
        if "SPICE" in kw["metrics"] and not ok:  # say it once, in the report
            kw["metrics"].remove("SPICE")
            notes.append(why)
    scores = tasks.score_records(args.task, merged, **kw)
    out = _default_out(args, loaded)
    if args.pictures and args.task == "listops":
        from .listops import plot_confusion

        plot_confusion(scores["confusion_matrix"], out / "confusion.png")
    if gallery and args.task in ("captioning", "vqa"):
        texts = (pictures.caption_texts if args.task == "captioning" else pictures.vqa_texts)(
            merged, list(gallery))
        pictures.image_sheet(gallery, texts, out / "sheet.png", title=f"{loaded.name}")
    n_samples = args.samples if args.samples is not None else (
        16 if _device(args).type == "cuda" else 0)
    if args.task == "bpd" and args.samples is None and not n_samples:
        notes.append("no sample grid on CPU by default: pass --samples N")
    if args.pictures and n_samples and args.task == "bpd" and hasattr(loaded.model, "sample"):
        loaded.model.eval()
        with torch.inference_mode():
            samples = loaded.model.sample(n_samples)
        ch = ", ".join(f"{k} {v:.3f}" for k, v in scores["bits_per_dim_per_channel"].items())
        pictures.sample_grid(samples, out / "samples.png",
                             title=f"{loaded.name}: {scores['bits_per_dim']:.3f} bits/dim ({ch})")
    # One record per scored sample: images, questions, sequences (or sliding windows).
    rec = make_record(scores, task=args.task, model=loaded.name, dataset=loaded.dataset,
                      split=args.split, n_samples=len(merged), decoding=settings or None, notes=notes,
                      extra={"samples_digest": samples_digest(merged), "world_size": world,
                             "batch_size": args.batch_size,
                             "limit": args.limit, "seconds": round(seconds, 2)})
    write_report(rec, out)
    print_report(rec)
    log.info("wrote %s", out)


def main(argv: list[str] | None = None) -> int:
    """``python -m zoo.eval.cli ...`` until the lead wires ``zoo eval``."""
    parser = add_arguments(argparse.ArgumentParser(prog="zoo eval", description=__doc__))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
