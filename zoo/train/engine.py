"""The training loop: a recipe -> a DeepSpeed engine -> steps, logs, evals, checkpoints.

One code path for every launch: ``zoo train RECIPE`` (one process, CPU or one GPU) and
``deepspeed --num_gpus N --module zoo.train RECIPE`` both end in ``train()``; on CPU DeepSpeed
runs with its CPU accelerator (``DS_ACCELERATOR=cpu``) and the gloo backend. The recipe owns
the optimisation (AdamW, warmup + cosine/linear decay, weight decay off for 1-D tensors); the
DeepSpeed JSON owns the parallel layout and precision (ZeRO stage, offload, bf16/fp16,
gradient clipping).
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import checkpoint as ckpt
from .distributed import init_distributed, replica_agreement
from .data import (ResumableStream, batch_size_of, batch_tokens, kind_of, make_loader, model_inputs,
                   segment_length)
from .grad_norm import install_fused_grad_norm
from .schedule import RunClock, lr_lambda
from .schema import Recipe, dump_recipe

REPO_ROOT = Path(__file__).resolve().parents[2]
RECORDS_NAME = "eval_records.json"  # the final evaluation's per-sample records (answers, captions)


# ---------------------------------------------------------------------------------------------
# config, model, optimizer


def resolve_path(p: str) -> Path:
    """A path from a recipe: as given if it exists, else relative to the repository root."""
    path = Path(p)
    if path.exists() or path.is_absolute():
        return path
    return REPO_ROOT / path


def read_deepspeed_json(path: Path) -> dict[str, Any]:
    """A configs/deepspeed JSON without its "_comment"-style keys."""
    return {k: v for k, v in json.loads(Path(path).read_text()).items() if not k.startswith("_")}


def deepspeed_config(recipe: Recipe, world: int) -> dict[str, Any]:
    """The recipe's DeepSpeed JSON with batch sizes, clipping and (for offload) the optimizer."""
    path = resolve_path(recipe.deepspeed)
    if not path.is_file():
        raise FileNotFoundError(f"recipe.deepspeed: {recipe.deepspeed} not found (configs/deepspeed/*.json)")
    cfg = read_deepspeed_json(path)
    if "gradient_clipping" not in cfg:
        raise ValueError(f"{path}: set gradient_clipping explicitly (DeepSpeed silently defaults it "
                         "to 1.0); 0 disables clipping")
    if recipe.schedule.grad_clip is not None:
        cfg["gradient_clipping"] = recipe.schedule.grad_clip
    cfg["train_micro_batch_size_per_gpu"] = recipe.micro_batch
    cfg["gradient_accumulation_steps"] = recipe.grad_accum
    cfg["train_batch_size"] = recipe.micro_batch * recipe.grad_accum * world
    cfg.setdefault("steps_per_print", 10**9)  # our logger prints; DeepSpeed's would interleave
    cfg.setdefault("wall_clock_breakdown", False)
    if cfg.get("fp16", {}).get("enabled") and not torch.cuda.is_available():
        raise ValueError(f"{path}: fp16 needs a GPU; on CPU use a bf16 or fp32 config "
                         "(configs/deepspeed/cpu.json)")
    if offloads_optimizer(cfg):
        s = recipe.schedule  # DeepSpeed's CPU Adam: a client torch optimizer would be slow here
        cfg["optimizer"] = {"type": "AdamW", "params": {"lr": s.lr, "betas": list(s.betas),
                                                        "eps": s.eps, "weight_decay": s.weight_decay}}
    elif "optimizer" in cfg:
        raise ValueError(f"{path}: the recipe's schedule owns the optimizer; remove 'optimizer'")
    if "scheduler" in cfg:
        raise ValueError(f"{path}: the recipe's schedule owns the LR schedule; remove 'scheduler'")
    return cfg


def offloads_optimizer(cfg: dict[str, Any]) -> bool:
    dev = (cfg.get("zero_optimization", {}).get("offload_optimizer") or {}).get("device", "none")
    return dev in ("cpu", "nvme")


def build_model(recipe: Recipe) -> torch.nn.Module:
    from zoo.registry import create_model

    kw = dict(recipe.model.overrides)
    if recipe.model.checkpoint:
        kw["checkpoint"] = str(resolve_path(recipe.model.checkpoint))
    return create_model(recipe.model.name, reinit=tuple(recipe.model.reinit), **kw)


def model_config(model: torch.nn.Module) -> dict[str, Any]:
    """The model's architecture config as JSON-able data (the registry's dataclass)."""
    import dataclasses

    cfg = getattr(model, "config", None) or getattr(model, "cfg", None)
    if cfg is None:
        return {}
    if dataclasses.is_dataclass(cfg):
        cfg = dataclasses.asdict(cfg)
    elif hasattr(cfg, "to_dict"):
        cfg = cfg.to_dict()
    return json.loads(json.dumps(cfg, default=str))


# the config field that sets the pipeline's seq_len, per data kind
SEQ_LEN_FIELD = {"bytes": "max_seq_len", "listops": "max_seq_len", "vqa": "max_question_len",
                 "caption": "max_caption_len"}


def model_seq_len(model: torch.nn.Module, kind: str) -> int | None:
    """The data length a model expects: byte-LM windows, ListOps padding, question or caption
    tokens (None for pixels: images have their size)."""
    value = model_config(model).get(SEQ_LEN_FIELD.get(kind, ""))
    return value if isinstance(value, int) and value > 0 else None


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: decay matrices, not biases / norm gains / position tables (the model's
    timm-style ``no_weight_decay()``, else every tensor with fewer than 2 dims)."""
    skip = model.no_weight_decay() if hasattr(model, "no_weight_decay") else set()
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.dim() < 2 or n in skip else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def step_seed(seed: int, rank: int, step: int) -> int:
    """Seed of the randomness (dropout, ...) of one step on one rank: resumes reproduce it."""
    return (seed * 1_000_003 + rank * 10_007 + step) % (2**63 - 1)


# ---------------------------------------------------------------------------------------------
# the loop


@dataclass
class TrainResult:
    run: Path
    step: int
    finished: bool
    losses: dict[int, float] = field(default_factory=dict)  # step -> mean loss over ranks
    metrics: dict[str, Any] = field(default_factory=dict)
    export: Path | None = None
    signal: int | None = None  # set when SIGTERM/SIGINT stopped the run
    replicas: dict[str, Any] = field(default_factory=dict)  # data-parallel weight agreement


def run_dir(recipe: Recipe, out: str | None) -> Path:
    return Path(out or recipe.out or Path("runs") / recipe.name)


def train(recipe: Recipe, *, out: str | None = None, resume: str | None = None,
          stop_at: int | None = None, local_rank: int | None = None) -> TrainResult:
    """Train a recipe to its last step (or `stop_at`, or a SIGTERM/SIGINT), checkpointing."""
    import deepspeed
    import torch.distributed as dist

    from .evaluate import evaluate
    from .logging import RunLogger

    quiet_deepspeed()
    rank, world, _ = init_distributed(local_rank)
    run = run_dir(recipe, out)
    ds_cfg = deepspeed_config(recipe, world)
    if resume == "auto":  # preemptible jobs: the same command line starts or continues
        resume = "latest" if ckpt.latest_tag(ckpt.checkpoint_dir(run)) else None
    universal_from = None
    if resume:
        d, tag, universal_from = ckpt.resume_target(resume, run, world, rank)
        if universal_from:
            ds_cfg.setdefault("checkpoint", {})["load_universal"] = True
    if rank == 0:
        run.mkdir(parents=True, exist_ok=True)
        dump_recipe(recipe, run / "recipe.yaml")
        (run / "deepspeed.json").write_text(json.dumps(ds_cfg, indent=1) + "\n")

    torch.manual_seed(recipe.seed)  # identical initial weights on every rank
    model = build_model(recipe)
    name, mcfg = recipe.model.name, model_config(model)
    opt = None
    if "optimizer" not in ds_cfg:
        s = recipe.schedule
        opt = torch.optim.AdamW(param_groups(model, s.weight_decay), lr=s.lr, betas=tuple(s.betas),
                                eps=s.eps)
    clock = RunClock()  # training time: the budget and a time-based decay read it
    sched = lambda o: torch.optim.lr_scheduler.LambdaLR(o, lr_lambda(recipe, clock))  # noqa: E731
    engine, _, _, scheduler = deepspeed.initialize(
        model=model, optimizer=opt, lr_scheduler=sched, config=ds_cfg,
        model_parameters=None if opt is not None else param_groups(model, recipe.schedule.weight_decay))
    install_fused_grad_norm(engine.optimizer)
    dtype = engine_dtype(ds_cfg)

    seq_len = recipe.data.seq_len or model_seq_len(model, kind_of(recipe))
    seg = segment_length(recipe.checkpoint.every, recipe.grad_accum, recipe.schedule.steps)
    factory = lambda seed, n: make_loader(recipe, train=True, seq_len=seq_len, seed=seed,  # noqa: E731
                                          epoch_batches=n)
    stream = ResumableStream(factory, recipe.seed, seg)
    step = 0
    if resume:
        client = ckpt.load(engine, d, tag)
        if client.get("model", name) != name:
            raise ValueError(f"--resume {resume}: checkpoint is of {client.get('model')}, recipe trains {name}")
        step = int(client["step"])
        stream = ResumableStream.restore(factory, client["data"])
        clock.load(client.get("clock"))

    seq_tokens = getattr(model, "max_seq_len", None)  # tokens/s counts every backbone token
    total = recipe.schedule.steps
    log = RunLogger(run, rank=rank, total_steps=total, start_step=step,
                    tensorboard=recipe.log.tensorboard, progress=recipe.log.progress,
                    desc=recipe.name)
    if resume:
        log.print(f"resumed from {d}/{tag} at step {step}" + (
            f" (written by {universal_from} ranks, converted to a universal checkpoint for {world})"
            if universal_from else ""))
    n_params = sum(getattr(p, "ds_numel", p.numel()) for p in model.parameters())  # ZeRO-3: full sizes
    log.print(f"{name}: {n_params / 1e6:.2f}M parameters, "
              f"world {world}, micro-batch {recipe.micro_batch} x accum {recipe.grad_accum}, "
              f"{total} steps, run folder {run}")
    result = TrainResult(run=run, step=step, finished=False)

    def client_state() -> dict[str, Any]:
        return {"step": step, "model": name, "model_config": mcfg, "data": stream.state(),
                "recipe": recipe.to_dict(), "clock": clock.state()}

    def save() -> Path:
        return ckpt.save(engine, run, step, client_state(), model_name=name, model_config=mcfg,
                         export=recipe.checkpoint.export, keep=recipe.checkpoint.keep)

    def run_eval(final: bool = False) -> dict[str, Any]:
        metrics = evaluate(engine, recipe, seq_len=seq_len, dtype=dtype,
                           max_batches=None if final else recipe.eval.max_batches)
        log.eval(step, recipe.eval.split or recipe.data.eval_split, metrics)
        return metrics

    last_saved = step
    t_last, tok, samples = time.perf_counter(), 0, 0
    # the clock starts after this process's first step, which compiles the attention kernels
    # (minutes on a GPU for some patterns): equal-time runs compare training, not compilers
    budget_s = None if recipe.schedule.max_minutes is None else 60 * recipe.schedule.max_minutes
    t_started, clock_base = None, clock.elapsed_s
    out_of_time = budget_s is not None and clock.elapsed_s > budget_s  # a resumed run whose budget is spent
    if out_of_time:
        log.print(f"time budget of {recipe.schedule.max_minutes} min already spent ({clock.elapsed_s:.1f} s of "
                  f"training at step {step}): nothing left to train")
    with ckpt.StopSignal() as stop:
        try:
            while step < total and not out_of_time:
                batches = [next(stream) for _ in range(recipe.grad_accum)]
                torch.manual_seed(step_seed(recipe.seed, rank, step))
                losses = []
                for batch in batches:
                    tok += batch_tokens(batch, seq_tokens)
                    samples += batch_size_of(batch)
                    out_ = engine(**model_inputs(batch, engine.device, dtype))
                    loss = out_["loss"]
                    engine.backward(loss)
                    engine.step()
                    losses.append(loss.detach().float())
                step += 1
                t_started = time.perf_counter() if t_started is None else t_started
                # one collective per step: the mean loss over ranks, "has any rank been signalled",
                # the mean training time (every rank decays and stops alike)
                flags = torch.tensor([0.0, float(stop.requested), clock_base + time.perf_counter() - t_started],
                                     device=losses[0].device, dtype=torch.float64)
                flags[0] = torch.stack(losses).mean()
                if world > 1:
                    dist.all_reduce(flags)
                loss_v, stopping, elapsed = flags[0].item() / world, flags[1].item() > 0, flags[2].item() / world
                clock.update(elapsed, step, recipe.schedule.warmup_steps)
                out_of_time = budget_s is not None and elapsed > budget_s
                result.losses[step] = loss_v
                grad_norm = _grad_norm(engine)
                check_finite(step, loss_v, grad_norm, ds_cfg)
                now = time.perf_counter()
                write = step % recipe.log.every == 0 or step == total
                dt = max(now - t_last, 1e-9)
                log.step(step, loss_v, scheduler.get_last_lr()[0], tokens_per_s=tok * world / dt,
                         samples_per_s=samples * world / dt, grad_norm=grad_norm, write=write)
                if write:
                    t_last, tok, samples = now, 0, 0
                if recipe.eval.every and step % recipe.eval.every == 0 and step < total:
                    result.metrics = run_eval()
                if out_of_time:
                    log.print(f"time budget of {recipe.schedule.max_minutes} min of training (summed over resumes) "
                              f"reached at step {step}")
                    break
                if stopping or (stop_at is not None and step >= stop_at) or (
                        recipe.checkpoint.every and step % recipe.checkpoint.every == 0) or step == total:
                    save()
                    last_saved = step
                if stopping:
                    result.signal = stop.signum or 15  # another rank was signalled
                    log.print(f"stopping at step {step} on signal {stop.signum}: checkpoint saved; "
                              f"continue with --resume latest")
                    break
                if stop_at is not None and step >= stop_at:
                    log.print(f"stopped at step {step} (--stop-at); continue with --resume latest")
                    break
        finally:
            log.close()
    result.step = step
    result.finished = step >= total or out_of_time
    result.replicas = replica_agreement(engine, world)
    if not result.replicas.get("identical", True):
        log.print(f"warning: data-parallel replicas differ: {result.replicas}")
    if result.finished:
        if last_saved != step:
            save()
        export = ckpt.checkpoint_dir(run) / ckpt.TAG_FORMAT.format(step) / ckpt.EXPORT_NAME
        if recipe.checkpoint.export and rank == 0 and export.is_file():
            import shutil

            shutil.copyfile(export, run / ckpt.EXPORT_NAME)
            result.export = run / ckpt.EXPORT_NAME
        if recipe.eval.at_end:
            log = RunLogger(run, rank=rank, total_steps=total, start_step=step, tensorboard=False,
                            progress=False)
            result.metrics = run_eval(final=True)
            log.close()
        if rank == 0 and result.metrics.get("records"):  # per-sample answers / captions, for scoring elsewhere
            records = {str(k): v for k, v in result.metrics["records"].items()}
            (run / RECORDS_NAME).write_text(json.dumps(records, default=str) + "\n")
        if rank == 0:
            summary = {"model": name, "step": step, "final_loss": result.losses.get(step),
                       "eval": {k: v for k, v in result.metrics.items() if k != "records"},
                       "world_size": world, "replicas": result.replicas}
            (run / "metrics.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    return result


def quiet_deepspeed() -> None:
    """DeepSpeed logs every checkpoint file at INFO; our logger reports what matters."""
    import logging

    from deepspeed.utils import logger

    if os.environ.get("ZOO_DEEPSPEED_VERBOSE") != "1":
        logger.setLevel(logging.WARNING)


def engine_dtype(cfg: dict[str, Any]) -> torch.dtype:
    if cfg.get("bf16", {}).get("enabled"):
        return torch.bfloat16
    if cfg.get("fp16", {}).get("enabled"):
        return torch.float16
    return torch.float32


def check_finite(step: int, loss: float, grad_norm: float | None, ds_cfg: dict) -> None:
    """Stop a run whose loss or gradients stopped being numbers. fp16 runs skip such steps
    (dynamic loss scaling), as do bf16 runs with DeepSpeed's ``bf16.check_grad_overflow``. Our
    bf16 configs turn that check off: it is a per-gradient loop of small kernels ending in a sync,
    ~25 ms of a 118 ms pixel step on the H200 (benchmarks/train_h200.json, session 12), and a
    non-finite bf16 gradient is a diverged run, not an overflow. The norm DeepSpeed reports
    (-1 or inf/NaN when invalid) says so after the step; the last checkpoint is untouched."""
    if ds_cfg.get("fp16", {}).get("enabled"):
        return
    if not math.isfinite(loss):
        raise FloatingPointError(f"loss is {loss} at step {step}")
    bf16 = ds_cfg.get("bf16", {})
    skips_overflow = bf16.get("enabled") and bf16.get("check_grad_overflow", True)
    if grad_norm is not None and not (math.isfinite(grad_norm) and grad_norm >= 0) and not skips_overflow:
        raise FloatingPointError(f"gradient norm is {grad_norm} at step {step}: a non-finite gradient reached the "
                                 "weights; resume from the last checkpoint (lower schedule.lr or keep "
                                 "schedule.grad_clip), or skip such steps with a DeepSpeed config whose bf16.check_grad_overflow "
                                 "is true (--set deepspeed=PATH)")


def _grad_norm(engine) -> float | None:
    try:
        g = engine.get_global_grad_norm()
    except Exception:  # noqa: BLE001 - not every optimizer wrapper tracks it
        return None
    if g is None:
        return None
    return float(g.item() if isinstance(g, torch.Tensor) else g)


# ---------------------------------------------------------------------------------------------
# dry run
