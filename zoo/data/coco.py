"""COCO Captions (Chen et al., 2015, "Microsoft COCO Captions: Data Collection and Evaluation
Server"), in the official 2017 layout or the Karpathy & Fei-Fei (2015) split.

Sources (https://cocodataset.org/#download):
- official: `annotations/captions_train2017.json`, `annotations/captions_val2017.json`
  (from annotations_trainval2017.zip; the folder `annotations/` or the files directly in --src)
  and the images `train2017/`, `val2017/` (train2017.zip, val2017.zip). The JSON has
  "images": [{"id", "file_name", ...}] and "annotations": [{"image_id", "id", "caption"}].
- Karpathy: `dataset_coco.json` ("images": [{"filepath", "filename", "cocoid", "split",
  "sentences": [{"raw", ...}]}], splits train/restval/val/test) with the 2014 image folders
  `train2014/`, `val2014/` under --src. `restval` joins train, as in the paper.

Shards: one sample per image, `jpg` (the original file, byte for byte) + `json`
{"image_id", "file_name", "captions": [...]}. Images missing on disk are skipped and counted.
"""
from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from .shards import ShardSink, print_summary, read_jpeg, write_index

log = logging.getLogger(__name__)
URL = "https://cocodataset.org/#download"
KARPATHY = "dataset_coco.json"
KARPATHY_SPLITS = {"train": "train", "restval": "train", "val": "val", "test": "test"}


def read_official(ann_path: Path) -> list[dict[str, Any]]:
    """captions_*2017.json -> [{"image_id", "file_name", "captions"}] sorted by image id."""
    ann = json.loads(ann_path.read_text())
    caps: dict[int, list[str]] = defaultdict(list)
    for a in sorted(ann["annotations"], key=lambda a: a.get("id", 0)):
        caps[int(a["image_id"])].append(str(a["caption"]).strip())
    images = sorted(ann["images"], key=lambda im: im["id"])
    return [{"image_id": int(im["id"]), "file_name": im["file_name"], "captions": caps[int(im["id"])]}
            for im in images if caps[int(im["id"])]]


def read_karpathy(path: Path) -> dict[str, list[dict[str, Any]]]:
    """dataset_coco.json -> {"train"|"val"|"test": [{"image_id", "file_name", "captions"}]}."""
    data = json.loads(path.read_text())
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for im in data["images"]:
        split = KARPATHY_SPLITS.get(im["split"])
        if split is None:
            continue
        out[split].append({"image_id": int(im.get("cocoid", im.get("imgid"))),
                           "file_name": f"{im['filepath']}/{im['filename']}",
                           "captions": [s["raw"].strip() for s in im["sentences"]]})
    return dict(out)


def find_sources(src: str | os.PathLike) -> tuple[str, dict[str, tuple[list[dict], Path]]]:
    """("karpathy" | "coco2017", {split: (records, image root)}) or a FileNotFoundError."""
    src = Path(src)
    if (src / KARPATHY).is_file():
        return "karpathy", {s: (recs, src) for s, recs in read_karpathy(src / KARPATHY).items()}
    splits, missing = {}, []
    for split in ("train", "val"):
        name = f"captions_{split}2017.json"
        ann = next((p for p in (src / "annotations" / name, src / name) if p.is_file()), None)
        images = src / f"{split}2017"
        absent = ([] if ann else [f"annotations/{name}"]) + ([] if images.is_dir() else [f"{split}2017/"])
        if absent:
            missing += absent
        else:
            splits[split] = (read_official(ann), images)
    if not splits:
        raise FileNotFoundError(
            f"COCO captions: {src} lacks {', '.join(missing)}. Download annotations_trainval2017.zip, "
            f"train2017.zip and val2017.zip from {URL} and unzip them into --src (or put the "
            f"Karpathy split's {KARPATHY} next to train2014/ and val2014/)")
    if missing:
        log.warning("COCO captions: converting %s only; missing %s", sorted(splits), ", ".join(missing))
    return "coco2017", splits


def convert(src: str | os.PathLike, out: str | os.PathLike, limit: int | None = None, *,
            maxcount: int = 1000, progress: bool | None = None) -> dict[str, Any]:
    """COCO captions + images -> shards (at most `limit` images per split)."""
    layout, splits = find_sources(src)
    summaries = []
    for split, (records, root) in splits.items():
        records = records[:limit] if limit is not None else records
        with ShardSink(out, split, maxcount=maxcount, total=len(records), desc=f"coco {split}",
                       progress=progress) as sink:
            for rec in records:
                key = f"{rec['image_id']:012d}"
                path = root / rec["file_name"]
                jpg = read_jpeg(path, sink, key)
                if jpg is None:
                    continue
                sink.write({"__key__": key, "jpg": jpg,
                            "json": {**rec, "split": split}}, items=1)
        summaries.append(sink.summary)
    index = write_index(out, "coco", summaries, layout=layout, source=str(src))
    print_summary(index, out)
    return index
