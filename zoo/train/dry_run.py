"""``zoo train RECIPE --dry-run``: check a recipe end to end without training, so a launch on
many GPUs fails here, in seconds, rather than after the job has queued."""
from __future__ import annotations

import json
import sys

import torch

from .data import kind_of, make_loader, model_inputs
from .engine import (build_model, deepspeed_config, engine_dtype, model_config, model_seq_len, resolve_path,
                     run_dir)
from .schema import Recipe


def dry_run(recipe: Recipe, *, out: str | None = None, forward: bool = True, world: int = 1) -> int:
    """Check a recipe without training: schema, DeepSpeed JSON (batch arithmetic for ``world``
    processes), model, data pipeline, one batch."""
    if world < 1:
        raise ValueError(f"world size must be >= 1, got {world}")
    print(f"recipe {recipe.name}: ok ({recipe.model.name}, {recipe.schedule.steps} steps, "
          f"micro-batch {recipe.micro_batch} x accum {recipe.grad_accum}, seed {recipe.seed})")
    cfg = deepspeed_config(recipe, world=world)
    print(f"deepspeed {recipe.deepspeed}: ZeRO stage {cfg.get('zero_optimization', {}).get('stage', 0)}, "
          f"{engine_dtype(cfg)}, gradient_clipping {cfg['gradient_clipping']}")
    print(f"batch: {cfg['train_micro_batch_size_per_gpu']} per GPU x {cfg['gradient_accumulation_steps']} "
          f"accumulation x {world} GPU(s) = {cfg['train_batch_size']} sequences per optimizer step")
    torch.manual_seed(recipe.seed)
    model = build_model(recipe)
    n = sum(p.numel() for p in model.parameters())
    print(f"model {recipe.model.name}: {n / 1e6:.2f}M parameters, config {json.dumps(model_config(model))}")
    seq_len = recipe.data.seq_len or model_seq_len(model, kind_of(recipe))
    if not (resolve_path(recipe.data.path) / "index.json").is_file():
        print(f"data: no shards at {recipe.data.path} (no index.json); convert them first: "
              f"zoo data convert {recipe.data.dataset} --src ... --out {recipe.data.path}",
              file=sys.stderr)
        return 1
    loader = make_loader(recipe, train=True, seq_len=seq_len, seed=recipe.seed, epoch_batches=1)
    batch = next(iter(loader))
    shapes = {k: (tuple(v.shape), str(v.dtype).replace("torch.", "")) if isinstance(v, torch.Tensor)
              else type(v).__name__ for k, v in batch.items()}
    print(f"data {recipe.data.dataset} ({kind_of(recipe)}) at {recipe.data.path}: batch {shapes}")
    if forward:
        model.eval()
        with torch.no_grad():
            out_ = model(**model_inputs({k: v[:1] if isinstance(v, torch.Tensor) else v
                                         for k, v in batch.items()}, "cpu", torch.float32))
        print(f"forward: logits {tuple(out_['logits'].shape)}, loss {float(out_['loss']):.4f}")
    print(f"run folder: {run_dir(recipe, out)} (dry run: nothing written)")
    return 0
