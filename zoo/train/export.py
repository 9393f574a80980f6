"""`zoo export CKPT -o model.safetensors`: a DeepSpeed checkpoint -> one portable file.

CKPT is a run folder (its newest checkpoint), a ``checkpoints/`` folder, or one tag folder. The
output holds the weights plus the model name and its config JSON in the safetensors metadata, so
``zoo.create_model(name, checkpoint="model.safetensors")`` rebuilds the model without the recipe.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from . import checkpoint as ckpt


def find_tag(path: str | Path) -> Path:
    """The tag folder a CKPT argument names."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such checkpoint")
    if any(p.glob("*model_states.pt")):
        return p
    for d in (p, p / "checkpoints"):
        tag = ckpt.latest_tag(d)
        if tag is not None:
            return d / tag
    raise FileNotFoundError(f"{p}: neither a run folder, a checkpoints folder (with 'latest') nor a "
                            "DeepSpeed tag folder")


def export(path: str | Path, output: str | Path) -> Path:
    tag = find_tag(path)
    output = Path(output)
    existing = tag / ckpt.EXPORT_NAME
    if existing.is_file():  # written at save time (the only way under ZeRO-3)
        output.parent.mkdir(parents=True, exist_ok=True)
        if existing.resolve() != output.resolve():
            shutil.copyfile(existing, output)
        return output
    state, client = ckpt.module_state_from_checkpoint(tag)
    if not client.get("model"):
        raise ValueError(f"{tag}: the checkpoint does not name its model (not written by zoo train)")
    return ckpt.export_safetensors(state, output, model_name=client["model"],
                                   config=client.get("model_config") or {}, step=client.get("step"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="run folder, checkpoints/ folder or tag folder")
    parser.add_argument("-o", "--output", required=True, help="output .safetensors file")


def run(args: argparse.Namespace) -> int:
    try:
        out = export(args.checkpoint, args.output)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    _, info = ckpt.read_export(out)
    print(f"{out}: {info['model']} (step {info['step']})")
    return 0
