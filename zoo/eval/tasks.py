"""Per-task evaluation loops for ``zoo eval``: plain model + iterable of batches -> records.

Each loop returns *records*, a dict from sample id to what scoring needs (a caption and its
references, an answer and the annotators' answers, a class and its label, NLL sums). Records
from several ranks merge by union (``distributed.merge_records``) and only then are scored, so
corpus-level metrics see the whole split at once. The loops know nothing of the registry or
the data pipeline; ``cli._load`` is the one place that does.

Batch conventions (issue 4's "one calling convention"): captioners have
``generate(batch, max_new_tokens, use_cache=True, temperature=0.0, top_k=None)`` returning token
ids; VQA models map ``{"image", "question_ids", "question_mask"}`` to logits (B, n_answers);
ListOps encoders map ``{"input_ids", "attention_mask"}`` to logits (B, 10). Metadata (ids,
reference captions, annotator answers, question types) travels in the same batch dict.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch

from .captioning import caption_scores
from .likelihood import (Records, _device_of, _EvalMode, _ids, _put, lm_records, lm_summary,
                         pixel_records, pixel_summary, sliding_records)
from .listops import classification_scores
from .vqa import answer_type, vqa_accuracy

VQA_MODEL_KEYS = ("image", "question_ids", "question_mask")
CAPTION_MODEL_KEYS = ("image",)  # never the reference caption: generation must not see it


def _column(batch: Mapping, key: str, size: int) -> list | None:
    """One per-sample metadata column of a batch as a list, or None when absent."""
    if key not in batch:
        return None
    v = batch[key]
    v = v.tolist() if isinstance(v, torch.Tensor) else list(v)
    if len(v) != size:
        raise ValueError(f"batch column {key!r} has {len(v)} entries for {size} samples")
    return v


def generate_ids(
    model: torch.nn.Module,
    batch: Mapping[str, torch.Tensor],
    *,
    decode: str = "greedy",
    beams: int = 5,
    max_len: int = 30,
) -> list[list[int]]:
    """Token ids of one generated caption per sample (greedy, or beam if the model offers it)."""
    kwargs: dict[str, Any] = dict(max_new_tokens=max_len, use_cache=True, temperature=0.0,
                                  top_k=None)
    if decode == "beam":
        params = inspect.signature(model.generate).parameters
        key = next((k for k in ("num_beams", "beams", "beam_size") if k in params), None)
        if key is None:
            raise NotImplementedError(
                f"{type(model).__name__}.generate has no beam-search argument "
                "(num_beams); use --decode greedy"
            )
        kwargs[key] = beams
    elif decode != "greedy":
        raise ValueError(f"unknown decoding {decode!r}: greedy or beam")
    out = model.generate(batch, **kwargs)
    if isinstance(out, Mapping):  # tolerate generate() returning {"ids"/"tokens": ...}
        out = out.get("ids", out.get("tokens"))
    return out.tolist() if isinstance(out, torch.Tensor) else [list(x) for x in out]


def caption_records(
    model: torch.nn.Module,
    batches: Iterable[Mapping],
    *,
    decode_ids: Callable[[Sequence[int]], str],
    decode: str = "greedy",
    beams: int = 5,
    max_len: int = 30,
    id_key: str = "image_id",
    refs_key: str = "references",
    device: torch.device | str | None = None,
    rank: int = 0,
) -> Records:
    """{image id: {"caption", "references"}} from ``model.generate`` over the batches."""
    device = _device_of(model, device)
    out: Records = {}
    with _EvalMode(model):
        for batch in batches:
            inputs = {k: batch[k].to(device) for k in CAPTION_MODEL_KEYS if k in batch}
            size = len(next(iter(inputs.values())))
            ids = generate_ids(model, inputs, decode=decode, beams=beams, max_len=max_len)
            refs = _column(batch, refs_key, size)
            if refs is None:
                raise KeyError(f"captioning batches need reference captions under {refs_key!r}")
            for k, toks, r in zip(_ids(batch, id_key, size, len(out), rank), ids, refs):
                r = [r] if isinstance(r, str) else list(r)
                _put(out, k, {"caption": decode_ids(toks), "references": r})
    return out


def vqa_records(
    model: torch.nn.Module,
    batches: Iterable[Mapping],
    *,
    answer_vocab: Sequence[str],
    id_key: str = "question_id",
    answers_key: str = "answers",
    device: torch.device | str | None = None,
    rank: int = 0,
) -> Records:
    """{question id: {"prediction", "answers", ...types}} from the argmax over the answer vocab.

    Annotator answers come from ``answers_key`` (a list per question for VQA v2, a string for
    easy-VQA) or, failing that, from the class ``labels``. ``question_type`` / ``answer_type``
    and ``question`` columns are kept when present (breakdowns, the picture sheet); a missing
    ``answer_type`` is derived from the answers (yes/no, number, other).
    """
    device = _device_of(model, device)
    out: Records = {}
    with _EvalMode(model):
        for batch in batches:
            inputs = {k: batch[k].to(device) for k in VQA_MODEL_KEYS if k in batch}
            logits = model(**inputs)["logits"]  # (B, n_answers)
            if logits.shape[-1] != len(answer_vocab):
                raise ValueError(
                    f"model scores {logits.shape[-1]} answers, vocabulary has {len(answer_vocab)}"
                )
            pred = logits.argmax(-1).tolist()
            size = len(pred)
            answers = _column(batch, answers_key, size)
            if answers is None:
                labels = _column(batch, "labels", size)
                if labels is None:
                    raise KeyError(f"VQA batches need {answers_key!r} or 'labels'")
                answers = [answer_vocab[i] if 0 <= i < len(answer_vocab) else "" for i in labels]
            cols = {c: _column(batch, c, size)
                    for c in ("question_type", "answer_type", "question")}
            if cols["answer_type"] is None:  # derive it as VQA v2 did, from the answers
                cols["answer_type"] = [answer_type(a) for a in answers]
            for i, k in enumerate(_ids(batch, id_key, size, len(out), rank)):
                rec = {"prediction": answer_vocab[pred[i]], "answers": answers[i]}
                rec.update({c: v[i] for c, v in cols.items() if v is not None})
                _put(out, k, rec)
    return out


def listops_records(
    model: torch.nn.Module,
    batches: Iterable[Mapping],
    *,
    id_key: str = "__key__",
    device: torch.device | str | None = None,
    rank: int = 0,
) -> Records:
    """{sample id: (predicted class, label)}; only input_ids / attention_mask reach the model."""
    device = _device_of(model, device)
    out: Records = {}
    with _EvalMode(model):
        for batch in batches:
            inputs = {k: batch[k].to(device) for k in ("input_ids", "attention_mask") if k in batch}
            pred = model(**inputs)["logits"].argmax(-1).tolist()
            labels = _column(batch, "labels", len(pred))
            for k, p, t in zip(_ids(batch, id_key, len(pred), len(out), rank), pred, labels):
                _put(out, k, (int(p), int(t)))
    return out


def score_records(task: str, records: Records, **kw) -> dict:
    """Scores of a task from its merged records (all ranks)."""
    if task == "captioning":
        return caption_scores({k: r["caption"] for k, r in records.items()},
                              {k: r["references"] for k, r in records.items()}, **kw)
    if task == "vqa":
        types = {}
        for col in ("question_type", "answer_type"):
            if all(col in r for r in records.values()):
                types[col + "s"] = {k: r[col] for k, r in records.items()}
        return vqa_accuracy({k: r["prediction"] for k, r in records.items()},
                            {k: r["answers"] for k, r in records.items()}, **types, **kw)
    if task == "listops":
        preds, labels = zip(*records.values()) if records else ((), ())
        return classification_scores(preds, labels, **kw)
    if task == "bpd":
        return pixel_summary(records)
    if task == "bpc":
        return lm_summary(records)
    raise ValueError(f"unknown task {task!r}")


__all__ = ["caption_records", "vqa_records", "listops_records", "pixel_records", "lm_records",
           "sliding_records", "score_records", "generate_ids"]
