"""Evaluation during and after training: one pass over the eval split, every requested metric.

Each rank scores its own part of the exact-once eval stream with no collective inside the loop
(ranks may hold uneven shard counts); sums are all-reduced and per-sample records (answers,
captions) gathered on rank 0 once at the end, where corpus metrics are computed by
``zoo.eval`` (VQA accuracy with the official normalisation, BLEU-4 / CIDEr-D via
pycocoevalcap) and broadcast back.
"""
from __future__ import annotations

import math
from typing import Any

import torch

from .data import make_loader, model_inputs
from .schema import Recipe

METRICS = ("loss", "accuracy", "bpd", "bpc", "vqa_accuracy", "bleu4", "cider_d", "rouge_l", "meteor")
_CAPTION = {"bleu4": ("BLEU", "BLEU-4"), "cider_d": ("CIDEr-D", "CIDEr-D"),
            "rouge_l": ("ROUGE-L", "ROUGE-L"), "meteor": ("METEOR", "METEOR")}
IGNORE_INDEX = -100


def _targets(batch: dict[str, Any]) -> int:
    """How many predictions a batch's mean loss averages over (weights the split's mean)."""
    labels = batch.get("labels")
    if isinstance(labels, torch.Tensor):
        return int((labels != IGNORE_INDEX).sum())
    if "caption_mask" in batch:
        return int(batch["caption_mask"][:, 1:].sum())  # next-token targets after <sot>
    img = batch.get("image")
    return int(img.numel()) if isinstance(img, torch.Tensor) else 1


def _plain_model(engine: Any, recipe: Recipe) -> torch.nn.Module:
    """The module to evaluate. Under ZeRO-3 every forward is a collective (parameters are
    gathered layer by layer), so ranks with uneven eval data -- or captions of different lengths
    -- would deadlock: evaluate a plain copy instead, its weights gathered once on every rank."""
    zero3 = getattr(engine, "zero_optimization_partition_weights", lambda: False)()
    module = getattr(engine, "module", engine)
    if not zero3:
        return module
    import deepspeed

    from .engine import build_model

    with torch.device("cpu"):
        plain = build_model(recipe)
    with deepspeed.zero.GatheredParameters(list(module.parameters()), modifier_rank=None):
        state = {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}
    plain.load_state_dict(state)
    dtype = next(module.parameters()).dtype
    for p in plain.parameters():  # as DeepSpeed does: parameters in the engine's dtype, buffers kept
        p.data = p.data.to(dtype)
    return plain.to(engine.device)


@torch.no_grad()
def evaluate(engine: Any, recipe: Recipe, *, seq_len: int | None, dtype: torch.dtype = torch.float32,
             max_batches: int | None = None) -> dict[str, Any]:
    import torch.distributed as dist

    from zoo.eval.distributed import gather_records, rank_and_world

    metrics = list(recipe.eval.metrics)
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"recipe.eval.metrics: unknown {unknown}; choose from {METRICS}")
    model = _plain_model(engine, recipe)
    device = next(model.parameters()).device
    rank, world = rank_and_world()
    loader = make_loader(recipe, train=False, seq_len=seq_len, split=recipe.eval.split,
                         batch_size=recipe.eval.batch_size)
    want_caps = any(m in _CAPTION for m in metrics)
    want_vqa = "vqa_accuracy" in metrics
    vocab = None
    if want_vqa:
        from .data import answer_vocab

        vocab = answer_vocab(recipe)
        if not vocab:
            raise ValueError("vqa_accuracy needs meta.answers in the shards' index.json")
    if want_caps:
        from zoo.data.tokenizer import decode as decode_ids
        from zoo.eval.tasks import generate_ids

    sums = torch.zeros(4, dtype=torch.float64)  # loss x targets, targets, correct, counted
    records: dict[Any, Any] = {}
    was_training = model.training
    model.eval()  # (a ZeRO-3 copy is thrown away afterwards)
    try:
        for i, batch in enumerate(loader):
            if max_batches is not None and i >= max_batches:
                break
            inputs = model_inputs(batch, device, dtype)
            out = model(**inputs)
            if "loss" in out and out["loss"] is not None:
                n = _targets(batch)
                sums[0] += float(out["loss"]) * n
                sums[1] += n
            logits = out["logits"]
            labels = batch.get("labels")
            if isinstance(labels, torch.Tensor) and logits.dim() == 2:  # one class per sample
                pred = logits.argmax(-1).cpu()
                ok = labels != IGNORE_INDEX
                sums[2] += int((pred[ok] == labels[ok]).sum())
                sums[3] += int(ok.sum())
                if want_vqa:
                    for j, qid in enumerate(batch["question_id"].tolist()):
                        records[qid] = {"prediction": vocab[int(pred[j])],
                                        "answers": batch["answers"][j]}
            if want_caps:
                gen_in = {"image": inputs["image"]}
                ids = generate_ids(model, gen_in, max_len=recipe.eval.max_new_tokens)
                for j, iid in enumerate(batch["image_id"].tolist()):
                    records[iid] = {"caption": decode_ids(ids[j]), "references": batch["references"][j]}
    finally:
        model.train(was_training)

    if world > 1:
        t = sums.to(device if device.type != "cpu" else "cpu")
        dist.all_reduce(t)
        sums = t.cpu()
    result: dict[str, Any] = {}
    mean = float(sums[0] / sums[1]) if sums[1] > 0 else math.nan
    if "loss" in metrics:
        result["loss"] = mean
    for m in ("bpd", "bpc"):
        if m in metrics:
            result[m] = mean / math.log(2)
    if "accuracy" in metrics:
        result["accuracy"] = float(100 * sums[2] / sums[3]) if sums[3] > 0 else math.nan
    if want_vqa or want_caps:
        merged = gather_records(records)
        scores: dict[str, Any] = {}
        if rank == 0:
            from zoo.eval.tasks import score_records

            if want_vqa:
                scores["vqa_accuracy"] = score_records("vqa", merged)["overall"]
            if want_caps:
                from zoo.eval.captioning import scorer_missing

                wanted = [_CAPTION[m][0] for m in metrics if m in _CAPTION]
                missing = scorer_missing()
                if missing:  # keep training's result; the records are scored elsewhere
                    scores.update({m: None for m in metrics if m in _CAPTION})
                    scores["caption_scoring"] = f"deferred ({missing}): zoo eval --records eval_records.json"
                else:
                    caps = score_records("captioning", merged, metrics=wanted)
                    scores.update({m: caps[_CAPTION[m][1]] for m in metrics if m in _CAPTION})
            scores["n_samples"] = len(merged)
        if world > 1:
            box = [scores]
            dist.broadcast_object_list(box, src=0)
            scores = box[0]
        result.update(scores)
        result["records"] = merged if rank == 0 else None
    return result
