"""VQA v2 (Goyal et al., 2017, "Making the V in VQA Matter") on COCO 2014 images.

Sources (https://visualqa.org/download.html), all in --src:
- questions: `v2_OpenEnded_mscoco_{train,val}2014_questions.json` ({"questions": [{"image_id",
  "question", "question_id"}]}), from v2_Questions_{Train,Val}_mscoco.zip;
- annotations: `v2_mscoco_{train,val}2014_annotations.json` ({"annotations": [{"question_id",
  "image_id", "multiple_choice_answer", "answers": [{"answer", ...} x 10], "answer_type", ...}]}),
  from v2_Annotations_{Train,Val}_mscoco.zip;
- images: `train2014/COCO_train2014_{image_id:012d}.jpg`, `val2014/...` (COCO 2014 zips).

Shards: one sample per *image* (questions share it; no image is stored five times): `jpg` (the
original file) + `json` {"image_id", "questions": [{"question_id", "question", "answer",
"answers", "answer_type"}]}. The answer vocabulary is the top-K (default 3,129, as in
Teney et al., 2018) most frequent `multiple_choice_answer`s of train, stored in
index.json["meta"]["answers"]; pipelines map other answers to label -100 (ignored).
"""
from __future__ import annotations

import json
import logging
import os
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from .shards import ShardSink, print_summary, read_jpeg, write_index

log = logging.getLogger(__name__)
URL = "https://visualqa.org/download.html"
SPLITS = ("train", "val")


def _files(src: Path, split: str) -> dict[str, Path]:
    return {"questions": src / f"v2_OpenEnded_mscoco_{split}2014_questions.json",
            "annotations": src / f"v2_mscoco_{split}2014_annotations.json",
            "images": src / f"{split}2014"}


def find_sources(src: str | os.PathLike) -> dict[str, dict[str, Path]]:
    """{split: {"questions", "annotations", "images"}} for every split present; raises if none."""
    src = Path(src)
    found, missing = {}, []
    for split in SPLITS:
        files = _files(src, split)
        absent = [p.name + ("/" if k == "images" else "") for k, p in files.items() if not p.exists()]
        if absent:
            missing += absent
        else:
            found[split] = files
    if not found:
        raise FileNotFoundError(
            f"VQA v2: {src} lacks {', '.join(missing)}. Download the v2 questions and annotations "
            f"(train and/or val) from {URL} and the COCO 2014 images from "
            "https://cocodataset.org/#download, unzip them all into --src")
    if missing:
        log.warning("VQA v2: converting %s only; missing %s", sorted(found), ", ".join(missing))
    return found


def read_split(files: dict[str, Path]) -> list[dict[str, Any]]:
    """Join questions and annotations -> [{"image_id", "questions": [...]}] sorted by image id."""
    questions = json.loads(files["questions"].read_text())["questions"]
    anns = {a["question_id"]: a for a in json.loads(files["annotations"].read_text())["annotations"]}
    per_image: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for q in sorted(questions, key=lambda q: q["question_id"]):
        a = anns.get(q["question_id"])
        if a is None:
            raise ValueError(f"{files['annotations']}: no annotation for question {q['question_id']}")
        per_image[int(q["image_id"])].append({
            "question_id": int(q["question_id"]), "question": q["question"],
            "answer": a["multiple_choice_answer"],
            "answers": [x["answer"] for x in a["answers"]],
            "answer_type": a.get("answer_type", "")})
    return [{"image_id": i, "questions": per_image[i]} for i in sorted(per_image)]


def answer_vocab(records: list[dict[str, Any]], top_k: int) -> list[str]:
    """The top-K most frequent multiple-choice answers, ties broken alphabetically."""
    counts = Counter(q["answer"] for r in records for q in r["questions"])
    return [a for a, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top_k]]


def convert(src: str | os.PathLike, out: str | os.PathLike, limit: int | None = None, *,
            top_k: int = 3129, maxcount: int = 2000, progress: bool | None = None) -> dict[str, Any]:
    """VQA v2 JSON + COCO images -> shards (at most `limit` images per split)."""
    sources = find_sources(src)
    records = {split: read_split(files) for split, files in sources.items()}
    # the vocabulary comes from train (all of it, not just the converted --limit subset)
    answers = answer_vocab(records.get("train") or next(iter(records.values())), top_k)
    summaries = []
    for split, recs in records.items():
        recs = recs[:limit] if limit is not None else recs
        image_dir = sources[split]["images"]
        with ShardSink(out, split, maxcount=maxcount, total=len(recs), desc=f"vqav2 {split}",
                       progress=progress) as sink:
            for rec in recs:
                key = f"{rec['image_id']:012d}"
                path = image_dir / f"COCO_{split}2014_{rec['image_id']:012d}.jpg"
                jpg = read_jpeg(path, sink, key)
                if jpg is None:
                    continue
                sink.write({"__key__": key, "jpg": jpg, "json": rec}, items=len(rec["questions"]))
        summaries.append(sink.summary)
    index = write_index(out, "vqav2", summaries, answers=answers, top_k=top_k, source=str(src))
    print_summary(index, out)
    return index
