"""The embedded demo (`make demo`): easy-VQA end to end on a laptop CPU in minutes.

    python -m zoo.demo --out runs/demo

1. converts easy-VQA (shipped by the `easy-vqa` package: 4,000 + 1,000 real 64x64 images,
   48,248 questions) to webdataset shards;
2. trains two small sparse image-text models with the same engine as `zoo train`, from the
   recipes `recipes/easyvqa/vqa_small_bigbird.yaml` (answer classifier, BigBird attention with
   global question tokens) and `recipes/easyvqa/captioner_small_bigbird.yaml` (prefix-LM
   captioner, BigBird blocks over the image);
3. evaluates on the whole easy-VQA test split: VQA accuracy next to the majority-answer
   baseline, captioning BLEU-4 and CIDEr-D (pycocoevalcap);
4. writes `report.md`, `report.json`, a sheet of test images with generated captions and
   answers (`samples.png`) and the attention patterns used (`attention.png`).
"""
from __future__ import annotations

import argparse
import collections
import io
import json
import os
import re
import sys
import tarfile
import textwrap
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
VQA_RECIPE = REPO / "recipes/easyvqa/vqa_small_bigbird.yaml"
CAPTION_RECIPE = REPO / "recipes/easyvqa/captioner_small_bigbird.yaml"
# --quick: seconds instead of minutes (tests); the numbers then mean nothing
QUICK = ["schedule.steps=6", "schedule.warmup_steps=2", "micro_batch=8", "eval.every=0",
         "checkpoint.every=3", "log.every=2", "model.overrides.dim=32", "model.overrides.depth=1",
         "model.overrides.num_heads=2"]


def _environment() -> None:
    """CPU DeepSpeed unless a GPU is there; one JIT build cache for DeepSpeed's ops."""
    import torch

    if not torch.cuda.is_available():
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
    os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(REPO / ".cache" / "torch_extensions"))
    os.environ.setdefault("MPLBACKEND", "Agg")


def _shard_samples(folder: Path, split: str, with_images: bool = False, limit: int | None = None):
    """(json, png bytes) of the samples of one split, read straight from the tars (no pickle)."""
    from zoo.data.shards import shard_urls

    n = 0
    for url in shard_urls(folder, split):
        with tarfile.open(url) as tar:
            members: dict[str, dict[str, bytes]] = collections.defaultdict(dict)
            for m in tar:
                key, _, ext = m.name.partition(".")
                if ext in ("json", "png") and (with_images or ext == "json"):
                    members[key][ext] = tar.extractfile(m).read()
            for key in sorted(members):
                yield json.loads(members[key]["json"]), members[key].get("png")
                n += 1
                if limit is not None and n >= limit:
                    return


def majority_baseline(folder: Path) -> tuple[str, float]:
    """The most frequent training answer, and its accuracy on the test questions (exact match)."""
    counts = collections.Counter(q["answer"] for meta, _ in _shard_samples(folder, "train")
                                 for q in meta["questions"])
    answer = counts.most_common(1)[0][0]
    test = [q["answer"] for meta, _ in _shard_samples(folder, "test") for q in meta["questions"]]
    return answer, 100.0 * sum(a == answer for a in test) / len(test)


def sample_sheet(folder: Path, vqa_records: dict, cap_records: dict, path: Path, n: int = 8) -> Path:
    """Test images with the generated caption and the answers to two of their questions."""
    import numpy as np
    from PIL import Image

    images, texts = {}, {}
    for meta, png in _shard_samples(folder, "test", with_images=True, limit=n):
        iid = meta["image_id"]
        images[iid] = np.array(Image.open(io.BytesIO(png)).convert("RGB"))
        cap = cap_records[iid]["caption"] if iid in cap_records else "-"
        lines = [textwrap.fill(f"caption: {cap}", 40), textwrap.fill(f"(truth: {meta['caption']})", 40)]
        for q in meta["questions"][:2]:
            r = vqa_records.get(q["question_id"])
            if r is not None:
                mark = "ok" if r["prediction"] == q["answer"] else f"truth: {q['answer']}"
                lines.append(f"Q: {textwrap.shorten(q['question'], 40)}\nA: {r['prediction']} ({mark})")
        texts[iid] = "\n".join(lines)
    return _sheet(images, texts, path, "easy-VQA test images: generated captions and answers")


def _sheet(images: dict, texts: dict, path: Path, title: str, cols: int = 4) -> Path:
    """Images in a grid, each with its (several-line) text underneath."""
    import math

    from matplotlib.figure import Figure

    rows = math.ceil(len(images) / cols)
    fig = Figure(figsize=(3.4 * cols, 5.4 * rows))
    axes = fig.subplots(rows, cols, squeeze=False).reshape(-1)
    for ax in axes:
        ax.axis("off")
    for ax, k in zip(axes, images):
        ax.imshow(images[k], interpolation="nearest")
        ax.text(0.0, -0.04, texts[k], transform=ax.transAxes, va="top", ha="left", fontsize=7.5,
                family="monospace", wrap=True)
    fig.suptitle(title)
    fig.subplots_adjust(left=0.02, right=0.98, top=0.94, bottom=0.16, wspace=0.1, hspace=0.85)
    fig.savefig(path, dpi=110)
    return path


def attention_picture(models: dict[str, Any], path: Path) -> Path:
    """The token mask of each trained model's first layer (its full sequence)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.2 * len(models), 5.8), layout="constrained")
    axes = fig.subplots(1, len(models), squeeze=False)[0]
    for ax, (name, model) in zip(axes, models.items()):
        pattern, n = model.patterns[0], int(model.max_seq_len)
        try:
            from zoo.attention.viz import draw_mask

            draw_mask(pattern, n, n_heads=model.config.num_heads, ax=ax)
        except ImportError:  # viz is optional: the mask itself is the definition
            ax.imshow(pattern.token_mask(n).any(0).numpy(), cmap="Blues", interpolation="nearest")
        ax.set_xlabel(f"{name}: key j of {n}", fontsize=8)
    fig.savefig(path, dpi=110)
    return path


def _load(run: Path):
    import zoo
    from zoo.train.checkpoint import read_export

    _, info = read_export(run / "model.safetensors")
    return zoo.create_model(info["model"], checkpoint=run / "model.safetensors")


def run_demo(out: Path, data: Path, quick: bool = False, progress: bool = True) -> dict[str, Any]:
    _environment()
    from zoo.train.engine import train
    from zoo.train.schema import load_recipe

    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    if not (data / "index.json").is_file():
        from zoo.data.easyvqa import convert

        print(f"[demo] converting easy-VQA to shards in {data}", flush=True)
        convert(data, 48 if quick else None)
    common = [f"data.path={data}", f"log.progress={str(progress).lower()}"] + (QUICK if quick else [])
    results = {}
    for task, recipe_path in (("vqa", VQA_RECIPE), ("captioner", CAPTION_RECIPE)):
        recipe = load_recipe(recipe_path, common)
        print(f"[demo] training {recipe.model.name} ({recipe_path.relative_to(REPO)}, "
              f"{recipe.schedule.steps} steps)", flush=True)
        results[task] = train(recipe, out=str(out / task))
    train_s = time.perf_counter() - t0

    vqa, cap = results["vqa"].metrics, results["captioner"].metrics
    answer, majority = majority_baseline(data)
    models = {t: _load(results[t].run) for t in results}  # from the exported safetensors
    names = {t: m.model_name for t, m in models.items()}
    sample_sheet(data, vqa["records"], cap["records"], out / "samples.png")
    attention_picture({names[t]: m for t, m in models.items()}, out / "attention.png")
    report = {
        "vqa_accuracy": round(vqa["vqa_accuracy"], 2),
        "majority_baseline": round(majority, 2),
        "majority_answer": answer,
        "bleu4": round(cap["bleu4"], 4),
        "cider_d": round(cap["cider_d"], 4),
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "train_seconds": round(train_s, 1),
        "model": {"vqa": names["vqa"], "captioner": names["captioner"]},
        "patterns": {t: _describe(m.patterns[0]) for t, m in models.items()},
        "test_questions": vqa["n_samples"],
        "test_images": cap["n_samples"],
        "steps": {t: results[t].step for t in results},
        "decoding": {"method": "greedy", "max_new_tokens": load_recipe(CAPTION_RECIPE, common).eval.max_new_tokens},
        "quick": quick,
    }
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "report.md").write_text(_markdown(report))
    return report


def _describe(pattern) -> str:
    """pattern.describe() with block layouts (learned rows) abbreviated."""
    return re.sub(r"layout=\(\(.*?\)\)", "layout=...", pattern.describe())


def _markdown(r: dict[str, Any]) -> str:
    return f"""# zoo demo: easy-VQA on CPU

Two small sparse-attention image-text models trained from scratch with `zoo train`'s engine
(DeepSpeed, CPU) on easy-VQA (4,000 training images, 38,575 questions), evaluated on the whole
test split ({r['test_questions']} questions, {r['test_images']} images).

| metric | value |
|---|---|
| VQA accuracy ({r['model']['vqa']}) | **{r['vqa_accuracy']:.2f}%** |
| majority-answer baseline ("{r['majority_answer']}") | {r['majority_baseline']:.2f}% |
| captioning BLEU-4 ({r['model']['captioner']}) | {r['bleu4']:.4f} |
| captioning CIDEr-D | {r['cider_d']:.4f} |
| wall time (convert + train + evaluate) | {r['wall_seconds']:.0f} s |

Captions are decoded greedily (up to {r['decoding']['max_new_tokens']} tokens); BLEU-4 and
CIDEr-D are pycocoevalcap's corpus scores (CIDEr-D on its native 0-10 scale). VQA accuracy is
exact match after the official answer normalisation (one reference answer per question).

Attention patterns (first layer):

- VQA: `{r['patterns']['vqa']}`
- captioner: `{r['patterns']['captioner']}`

![test images with generated captions and answers](samples.png)

![attention patterns](attention.png)
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zoo.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/demo"))
    parser.add_argument("--data", type=Path, default=None, help="easy-VQA shards (default: OUT/data)")
    parser.add_argument("--quick", action="store_true", help="a few steps on a few images (tests)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    report = run_demo(args.out, args.data or args.out / "data", quick=args.quick,
                      progress=not args.no_progress)
    print(f"[demo] VQA accuracy {report['vqa_accuracy']:.2f}% (majority baseline "
          f"{report['majority_baseline']:.2f}%), BLEU-4 {report['bleu4']:.4f}, CIDEr-D "
          f"{report['cider_d']:.4f}, {report['wall_seconds']:.0f} s -> {args.out}/report.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
