"""Checkpoints: DeepSpeed ``save_checkpoint`` on every rank, exact resume, safetensors export.

Layout of a run folder::

    RUN/checkpoints/latest                  DeepSpeed's pointer to the newest tag
    RUN/checkpoints/step000100/             one tag: DeepSpeed model/optimizer shards + ...
    RUN/checkpoints/step000100/model.safetensors   portable weights (+ name + config), rank 0

Exact resume: the client state holds the step and the data stream's position (its seed and the
number of micro-batches drawn, see ``zoo.train.data.ResumableStream``); dropout and other
randomness are re-seeded from (seed, rank, step) at every step, so steps 11-20 after a resume see
the same batches and the same random numbers as steps 11-20 of an uninterrupted run.

Loading never unpickles arbitrary objects: DeepSpeed's checkpoint engine is swapped for one that
calls ``torch.load(weights_only=True)`` with only the few DeepSpeed classes its files contain
allow-listed (a checkpoint is a file someone can hand you).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
from pathlib import Path
from typing import Any

import torch

TAG_FORMAT = "step{:09d}"
EXPORT_NAME = "model.safetensors"


# ---------------------------------------------------------------------------------------------
# safe loading


def _deepspeed_safe_globals() -> list[Any]:
    """The non-tensor classes DeepSpeed writes into its checkpoint files (all plain data)."""
    out: list[Any] = []
    for mod, names in (("deepspeed.runtime.zero.config", ("ZeroStageEnum",)),
                       ("deepspeed.utils.tensor_fragment", ("fragment_address",)),
                       ("deepspeed.runtime.fp16.loss_scaler", ("LossScaler", "DynamicLossScaler")),
                       ("deepspeed.checkpoint.constants", ())):
        try:
            m = __import__(mod, fromlist=list(names) or ["_"])
        except ImportError:
            continue
        out.extend(getattr(m, n) for n in names if hasattr(m, n))
    return out


def safe_load(path: str | os.PathLike, map_location: Any = "cpu") -> Any:
    """``torch.load(weights_only=True)`` that also admits DeepSpeed's checkpoint dataclasses."""
    with torch.serialization.safe_globals(_deepspeed_safe_globals()):
        return torch.load(path, map_location=map_location, weights_only=True)


def install_safe_loader(engine) -> None:
    """Make DeepSpeed's own ``load_checkpoint`` read files with weights_only=True."""
    from deepspeed.runtime.checkpoint_engine.torch_checkpoint_engine import TorchCheckpointEngine

    ce = getattr(engine, "checkpoint_engine", None)
    if ce is not None and isinstance(ce, TorchCheckpointEngine):
        ce.load = lambda path, map_location=None: safe_load(path, map_location)


# ---------------------------------------------------------------------------------------------
# save / resume


def checkpoint_dir(run: str | os.PathLike) -> Path:
    return Path(run) / "checkpoints"


def latest_tag(ckpt_dir: str | os.PathLike) -> str | None:
    f = Path(ckpt_dir) / "latest"
    if not f.is_file():
        return None
    tag = f.read_text().strip()
    return tag if (Path(ckpt_dir) / tag).is_dir() else None


def resolve_resume(resume: str, run: str | os.PathLike) -> tuple[Path, str]:
    """``--resume latest`` (this run's newest checkpoint), a tag, or a checkpoint folder/tag path."""
    if resume == "latest":
        d = checkpoint_dir(run)
        tag = latest_tag(d)
        if tag is None:
            raise FileNotFoundError(f"--resume latest: no checkpoint in {d} (no 'latest' file)")
        return d, tag
    p = Path(resume)
    if p.is_dir() and (p / "latest").is_file():  # a checkpoints/ folder
        return p, latest_tag(p) or (p / "latest").read_text().strip()
    if p.is_dir() and p.parent.is_dir() and any(p.glob("*model_states.pt")):  # a tag folder
        return p.parent, p.name
    if (checkpoint_dir(run) / resume).is_dir():  # a tag of this run
        return checkpoint_dir(run), resume
    raise FileNotFoundError(f"--resume {resume}: not 'latest', a tag of {checkpoint_dir(run)}, "
                            "or a DeepSpeed checkpoint folder")


def saved_world(tag_dir: str | os.PathLike) -> int | None:
    """The data-parallel size a ZeRO checkpoint was written with (one optimizer partition per
    rank); None when it has no ZeRO partitions (nothing to re-split)."""
    return len(list(Path(tag_dir).glob("*zero_pp_rank_*_mp_rank_*_optim_states.pt"))) or None


UNIVERSAL_SUFFIX = "_universal"


def to_universal(ckpt_dir: str | os.PathLike, tag: str) -> str:
    """Convert a ZeRO checkpoint into DeepSpeed's universal format (once; call on one rank) so a
    different number of GPUs can resume it; returns the converted tag. Files are read with
    weights_only=True, as every checkpoint load here."""
    import sys

    from deepspeed.checkpoint import ds_to_universal

    out_tag = tag + UNIVERSAL_SUFFIX
    src, out = Path(ckpt_dir) / tag, Path(ckpt_dir) / out_tag
    if not (out / "zero").is_dir():
        argv = sys.argv
        sys.argv = ["ds_to_universal", "--input_folder", str(src), "--output_folder", str(out),
                    "--num_extract_workers", "1", "--num_merge_workers", "1", "--inject_missing_state"]
        try:
            with torch.serialization.safe_globals(_deepspeed_safe_globals()):
                ds_to_universal.main(ds_to_universal.parse_arguments())
        finally:
            sys.argv = argv
    return out_tag


def resume_target(resume: str, run: str | os.PathLike, world: int, rank: int) -> tuple[Path, str, int | None]:
    """(folder, tag, ranks it was written by if it had to be converted) for ``--resume``: a ZeRO
    checkpoint of another world size is converted to a universal one first (rank 0; all wait)."""
    import torch.distributed as dist

    d, tag = resolve_resume(resume, run)
    saved = saved_world(d / tag)
    if saved is None or saved == world:
        return d, tag, None
    if rank == 0:
        to_universal(d, tag)
    if dist.is_initialized():
        dist.barrier()
    return d, tag + UNIVERSAL_SUFFIX, saved


def save(engine, run: str | os.PathLike, step: int, client_state: dict[str, Any], *,
         model_name: str, model_config: dict[str, Any], export: bool = True, keep: int = 0) -> Path:
    """DeepSpeed checkpoint of every rank (a collective: call it on all ranks), then the export."""
    import torch.distributed as dist

    from deepspeed.checkpoint.constants import (UNIVERSAL_CHECKPOINT_INFO, UNIVERSAL_CHECKPOINT_VERSION_KEY,
                                                UNIVERSAL_CHECKPOINT_VERSION_VALUE)

    d = checkpoint_dir(run)
    tag = TAG_FORMAT.format(step)
    # the marker DeepSpeed's universal conversion asks for: these checkpoints can change world size
    client_state = {**client_state,
                    UNIVERSAL_CHECKPOINT_INFO: {UNIVERSAL_CHECKPOINT_VERSION_KEY: UNIVERSAL_CHECKPOINT_VERSION_VALUE}}
    engine.save_checkpoint(str(d), tag=tag, client_state=client_state)
    if export:
        state = consolidated_state_dict(engine)  # collective under ZeRO-3
        if engine.global_rank == 0:
            export_safetensors(state, d / tag / EXPORT_NAME, model_name=model_name,
                               config=model_config, step=step)
    if dist.is_initialized():
        dist.barrier()
    if engine.global_rank == 0 and keep > 0:
        prune(d, keep)
    return d / tag


def prune(ckpt_dir: Path, keep: int) -> None:
    """Delete all but the newest `keep` step tags (never the one `latest` points to)."""
    current = latest_tag(ckpt_dir)
    tags = sorted(p.name for p in ckpt_dir.iterdir() if p.is_dir() and re.fullmatch(r"step\d+", p.name))
    for tag in tags[:-keep]:
        if tag != current:
            shutil.rmtree(ckpt_dir / tag, ignore_errors=True)


def load(engine, ckpt_dir: Path, tag: str) -> dict[str, Any]:
    """Restore module, optimizer, scheduler (all ranks); return the client state."""
    install_safe_loader(engine)
    path, client = engine.load_checkpoint(str(ckpt_dir), tag=tag, load_optimizer_states=True,
                                          load_lr_scheduler_states=True)
    if path is None:
        raise FileNotFoundError(f"DeepSpeed could not load {ckpt_dir}/{tag}")
    return client or {}


# ---------------------------------------------------------------------------------------------
# export


def consolidated_state_dict(engine) -> dict[str, torch.Tensor] | None:
    """Full weights on rank 0 (gathered under ZeRO-3; a collective then), None elsewhere."""
    if engine.zero_optimization_partition_weights():
        sd = engine._zero3_consolidated_16bit_state_dict()
        return sd if engine.global_rank == 0 else None
    return engine.module.state_dict() if engine.global_rank == 0 else None


def export_safetensors(state: dict[str, torch.Tensor], path: str | os.PathLike, *, model_name: str,
                       config: dict[str, Any], step: int | None = None) -> Path:
    """Weights + model name + config JSON in one safetensors file: the format of
    ``zoo.registry.save_checkpoint``, written from a state dict (gathered under ZeRO-3)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # clone: tied weights share storage, which safetensors refuses; each key gets its own copy
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}
    from zoo import __version__

    # the metadata zoo.registry reads back (create_model(name, checkpoint=path))
    meta = {"model_name": model_name, "config": json.dumps(config), "zoo_version": __version__}
    if step is not None:
        meta["step"] = str(step)
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)  # never leave a half-written export behind a crash
    return path


def read_export(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(state dict, {"model", "config", "step"}) of an exported file."""
    from safetensors import safe_open

    tensors = {}
    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata() or {})
        for k in f.keys():
            tensors[k] = f.get_tensor(k)
    info = {"model": meta.get("model_name"), "config": json.loads(meta.get("config", "{}")),
            "step": int(meta["step"]) if "step" in meta else None}
    return tensors, info


def module_state_from_checkpoint(ckpt: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Weights and client state of a DeepSpeed checkpoint (tag folder), ZeRO stages 0-2.

    Prefer the tag's model.safetensors; without it, read DeepSpeed's module states file (which
    holds the full weights unless the run used ZeRO-3).
    """
    tag_dir = Path(ckpt)
    states = sorted(tag_dir.glob("mp_rank_00_model_states.pt")) or sorted(
        tag_dir.glob("*mp_rank_00_model_states.pt"))
    if not states:
        raise FileNotFoundError(f"{tag_dir}: no DeepSpeed model states file")
    sd = safe_load(states[0])
    module = sd.get("module") or {}
    shapes = sd.get("param_shapes") or []
    expected = sum(len(g) for g in shapes) if isinstance(shapes, list) else 0
    if not module or any(t.numel() == 0 for t in module.values()) or len(
            [k for k in module]) < expected:
        raise ValueError(f"{tag_dir}: the weights are partitioned (ZeRO-3) and this checkpoint has "
                         f"no {EXPORT_NAME}; run DeepSpeed's zero_to_fp32.py on it first")
    client = {k: v for k, v in sd.items() if k in ("step", "model", "model_config", "data", "recipe", "clock")}
    return module, client


# ---------------------------------------------------------------------------------------------
# SIGTERM / SIGINT


class StopSignal:
    """Turns SIGTERM/SIGINT into a flag the loop checks between steps (then checkpoints)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> "StopSignal":
        for s in (signal.SIGTERM, signal.SIGINT):
            try:
                self._old[s] = signal.signal(s, self._handle)
            except ValueError:  # not the main thread (e.g. under some test runners)
                pass
        return self

    def _handle(self, signum, frame) -> None:
        if self.signum is not None and signum == signal.SIGINT:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.signum = signum

    def __exit__(self, *exc: object) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)

    @property
    def requested(self) -> bool:
        return self.signum is not None
