#!/usr/bin/env python
"""Training throughput of a registry model under DeepSpeed, on synthetic tokens.

One invocation = one JSON row (appended by rank 0 to ``--out``): step time (median of the timed
steps, slowest rank), global tokens/s, useful model TFLOP/s per GPU and MFU, the same work
counted as dense attention, peak memory, and how the run was set up. Every failure becomes a row
with an ``error`` field (``oom: true`` for an out-of-memory), never a crash without a row.

Model FLOPs per token (what the model needs, recompute from activation checkpointing not
counted): 6 x Linear weights (forward + backward) + per layer 12 x D_head x pairs / N, where
pairs are the (query, key) pairs the layer's pattern allows over one sequence, summed over heads
(``zoo.attention.flops.count_pairs``; estimated for the data-dependent lsh / anchor patterns,
see ``attn_pairs_note``). ``dense_equiv_*`` counts every pair (causal: N(N+1)/2 per head).

    python tools/bench_train.py --model lm_base_longformer --seq-len 16384 --grad-ckpt --out b.json
    python tools/bench_train.py --model lm_base_longformer --seq-len 16384 --attention dense ...
    python -m deepspeed.launcher.runner --num_gpus 4 tools/bench_train.py --model ... --zero 2
    python tools/bench_train.py --model lm_base_longformer --max-len-search --seq-len 16384

``--max-len-search`` finds the longest trainable length instead (tools/max_len_search.py: one
fresh process per length, doubling then bisecting). Where the time goes (``first_step``,
``--profile-steps``): tools/step_diagnostics.py. Row files and the table: tools/bench_rows.py.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shlex
import statistics
import sys
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python tools/bench_train.py` puts tools/ first on the path
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from bench_rows import append_rows, is_oom, print_table  # noqa: E402
from step_diagnostics import first_step_breakdown, host_vs_gpu, profile_steps, sync  # noqa: E402
from zoo.eval.report import git_commit  # noqa: E402
from zoo.models.flops import flops_facts, param_counts  # noqa: E402
from zoo.train.data import model_inputs  # noqa: E402
from zoo.train.distributed import on_cuda  # noqa: E402
from zoo.train.engine import engine_dtype, offloads_optimizer, quiet_deepspeed, read_deepspeed_json  # noqa: E402
from zoo.train.grad_norm import install_fused_grad_norm  # noqa: E402

DEFAULT_PEAK_TFLOPS = 790.0  # measured bf16 dense matmul ceiling of one H200
FIXED_LENGTH = "fixed"


# ---------------------------------------------------------------------------------------------
# model: name, length, overrides


def resolve_name(name: str) -> str:
    """A registered name, or the one registered name that is ``name`` plus a tag
    (``lm_base_longformer`` -> ``lm_base_longformer.enwik8``)."""
    from zoo.registry import is_model, list_models

    if is_model(name):
        return name
    tagged = list_models(f"{name}.*")
    if len(tagged) == 1:
        return tagged[0]
    from zoo.registry import _builder

    _builder(name)  # raises UnknownModelError naming the closest models
    raise ValueError(f"{name!r} is ambiguous: {', '.join(tagged)}")


def length_plan(name: str, seq_len: int | None) -> tuple[str, dict[str, Any], int, str | None]:
    """(knob, overrides, tokens, note): how ``seq_len`` reaches the model's config.

    knob: ``max_seq_len`` (lm, encoder), ``image_size`` (pixel: N = channels * side^2) or
    ``fixed`` (image-text models: the length follows image and text geometry)."""
    from zoo.registry import create_model

    with torch.device("meta"):
        model = create_model(name)
    native, fam, cfg = int(model.max_seq_len), model.family, model.config
    if fam in ("lm", "encoder"):
        if seq_len is None or seq_len == native:
            return "max_seq_len", {}, native, None
        return "max_seq_len", {"max_seq_len": int(seq_len)}, int(seq_len), None
    if fam == "pixel":
        if seq_len is None or seq_len == native:
            return "image_size", {}, native, None
        side = round(math.sqrt(seq_len / cfg.channels))
        if cfg.channels * side * side == seq_len:
            return "image_size", {"image_size": side}, seq_len, None
        return "image_size", {}, native, (f"pixel length is channels*image_size^2; {seq_len} is not of that "
                                          f"form, ran the native {native} (image {cfg.image_size}px)")
    note = None if seq_len in (None, native) else f"length fixed by the model's geometry: ran {native}, not {seq_len}"
    return FIXED_LENGTH, {}, native, note


def make_batch(model: nn.Module, micro_batch: int, seq_len: int, seed: int) -> dict[str, torch.Tensor]:
    """Random inputs of the model's own format (its ``dummy_inputs``), no padding."""
    if model.family in ("lm", "encoder"):
        batch = model.dummy_inputs(micro_batch, seed, seq_len=seq_len)
    else:
        batch = model.dummy_inputs(micro_batch, seed)
    if "attention_mask" in batch:  # every token real: the full length is the work
        batch["attention_mask"] = torch.ones_like(batch["attention_mask"])
    return batch


# ---------------------------------------------------------------------------------------------
# DeepSpeed


def ds_config(args: argparse.Namespace, world: int, bf16: bool) -> dict[str, Any]:
    """configs/deepspeed's ZeRO JSON of the stage (or --ds-config), batch sizes for one
    optimizer step per micro-batch, bf16 on/off (bf16.json's block), --ds-set entries, and
    DeepSpeed's CPU AdamW for offload."""
    stage = 3 if args.offload else args.zero
    if args.ds_config:
        cfg = read_deepspeed_json(Path(args.ds_config))
    else:
        base = "zero3_offload" if args.offload else (f"zero{stage}" if stage else "cpu_fp32")
        path = ROOT / "configs" / "deepspeed" / f"{base}.json"
        cfg = (read_deepspeed_json(path) if path.is_file()
               else {"gradient_clipping": 1.0, "zero_optimization": {"stage": stage}})
        cfg.pop("fp16", None)  # bf16 as the recipes' *_bf16.json configs set it (overflow check off)
        cfg["bf16"] = (read_deepspeed_json(ROOT / "configs" / "deepspeed" / "bf16.json")["bf16"] if bf16
                       else {"enabled": False})
    cfg.setdefault("gradient_clipping", 1.0)
    cfg.setdefault("zero_allow_untested_optimizer", True)
    cfg.update(train_micro_batch_size_per_gpu=args.micro_batch, gradient_accumulation_steps=1,
               train_batch_size=args.micro_batch * world, steps_per_print=10**9, wall_clock_breakdown=False)
    for (*path, last), value in args.ds_entries:
        node = cfg
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    if offloads_optimizer(cfg):
        cfg["optimizer"] = {"type": "AdamW", "params": {"lr": 1e-4, "betas": [0.9, 0.95], "eps": 1e-8,
                                                        "weight_decay": 0.1}}
    return cfg


# ---------------------------------------------------------------------------------------------
# one benchmark run


def bench(args: argparse.Namespace, row: dict[str, Any]) -> None:
    """Fill ``row`` in place (so a failure keeps what was learnt before it)."""
    import deepspeed
    import torch.distributed as dist

    from zoo.registry import create_model
    from zoo.train.distributed import init_distributed
    from zoo.train.engine import param_groups

    quiet_deepspeed()
    name = resolve_name(args.model)  # name and length errors before any process group exists
    knob, overrides, seq_len, note = length_plan(name, args.seq_len)
    row.update(model=name, seq_len=seq_len, length_knob=knob)
    if note:
        row["seq_len_note"] = note
    rank, world, local = init_distributed(args.local_rank)
    row["world_size"] = world
    t_start = time.perf_counter()

    def phase(what: str) -> None:  # a run killed by a timeout still says where it was
        if rank == 0:
            print(f"[{time.perf_counter() - t_start:7.1f} s] {what}", flush=True)
    cuda = on_cuda()
    bf16 = cuda if args.bf16 is None else args.bf16
    if args.attention == "dense":
        overrides["pattern"] = "dense"
    if args.grad_ckpt:
        overrides["grad_checkpointing"] = True
    if args.attn_backend:
        overrides["attn_backend"] = args.attn_backend
    if args.compile:
        overrides["compile"] = True
    row["overrides"] = dict(overrides)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        row["gpu"] = torch.cuda.get_device_name(local)
    cpu_name = platform.processor() or platform.machine()
    row["device"] = row["gpu"] or f"cpu ({cpu_name}, {torch.get_num_threads()} threads)"

    torch.manual_seed(args.seed)  # identical initial weights on every rank
    model = create_model(name, **overrides)
    cfg = model.config
    from zoo.layers import describe_schedule

    row.update(attention=cfg.pattern, schedule=cfg.schedule, attention_layers=describe_schedule(model.patterns),
               dim=cfg.dim, depth=cfg.depth, heads=cfg.num_heads, **param_counts(model))
    if args.attention == "dense":  # lsh shares q/k, anchor layers hold anchors: say so when counts move
        with torch.device("meta"):
            own = create_model(name, **{k: v for k, v in overrides.items() if k != "pattern"})
        row["params_same_as_model"] = sum(p.numel() for p in own.parameters()) == row["params"]
    backbone_len: list[int] = []
    if hasattr(model, "backbone"):  # the backbone's token count (CLS, image + text tokens) sets the FLOPs
        model.backbone.register_forward_pre_hook(
            lambda m, a: backbone_len.append(a[0].shape[1]) if a and not backbone_len else None)
    batch = make_batch(model, args.micro_batch, seq_len, seed=args.seed + rank)
    phase(f"model built: {name}, {seq_len} tokens, {describe_schedule(model.patterns)[:2]}")

    ds_cfg = ds_config(args, world, bf16)
    zero = ds_cfg.get("zero_optimization", {})
    offload = any((zero.get(k) or {}).get("device", "none") != "none" for k in ("offload_param", "offload_optimizer"))
    row.update(zero=int(zero.get("stage", 0)), offload=offload, dtype=str(engine_dtype(ds_cfg)).replace("torch.", ""))
    opt = None
    if "optimizer" not in ds_cfg:  # the training engine's choice: torch AdamW, decay on matrices only
        opt = torch.optim.AdamW(param_groups(model, 0.1), lr=1e-4, betas=(0.9, 0.95))
    engine, _, _, _ = deepspeed.initialize(model=model, optimizer=opt, config=ds_cfg,
                                           model_parameters=None if opt is not None else param_groups(model, 0.1))
    row["fused_grad_norm"] = install_fused_grad_norm(engine.optimizer)  # as the training engine does
    inputs = model_inputs(batch, engine.device, engine_dtype(ds_cfg))
    engine.train()
    phase("DeepSpeed engine ready; first step compiles")

    times, loss = [], None
    for i in range(args.warmup + args.steps):
        sync()
        t0 = time.perf_counter()
        out = engine(**inputs)
        if i == 0:  # the first step compiles: say which half of it takes the time
            sync()
            t_fwd = time.perf_counter() - t0
        engine.backward(out["loss"])
        engine.step()
        sync()
        dt = time.perf_counter() - t0
        if i >= args.warmup:
            times.append(dt)
        else:
            row.setdefault("warmup_s", []).append(round(dt, 2))  # compile time shows here
        if i == 0:
            row["first_step"] = first_step_breakdown(t_fwd, dt)
            phase(f"first step: {row['first_step']}")
        phase(f"step {i + 1}/{args.warmup + args.steps}: {dt * 1e3:.1f} ms")
        loss = out["loss"]
    if args.profile_steps > 0:
        try:  # a diagnosis: its failure keeps the measured row
            row["host_vs_gpu"] = host_vs_gpu(engine, inputs)
        except Exception as e:  # noqa: BLE001
            row["host_vs_gpu"] = {"error": repr(e)[:300]}
        row["profile"] = profile_steps(engine, inputs, args.profile_steps)
        phase(f"profile: {row['profile']['wall_ms_per_step']:.1f} ms/step wall, "
              f"{row['profile']['gpu_busy_ms_per_step']:.1f} ms/step GPU kernels")
    loss_v = float(loss.detach().float()) if loss is not None else None
    stats = torch.tensor(times + [torch.cuda.max_memory_allocated() / 2**30 if cuda else 0.0,
                                  torch.cuda.max_memory_reserved() / 2**30 if cuda else 0.0],
                         dtype=torch.float64, device=engine.device)
    if world > 1:  # the slowest rank sets the step time; the fullest GPU the memory
        dist.all_reduce(stats, op=dist.ReduceOp.MAX)
    step_times = stats[:-2].tolist()
    step_s = statistics.median(step_times) if step_times else float("nan")
    n = backbone_len[0] if backbone_len else seq_len
    row.update(backbone_len=n, loss=loss_v, step_ms=step_s * 1e3,
               step_ms_mean=1e3 * sum(step_times) / max(1, len(step_times)),
               step_ms_min=1e3 * min(step_times, default=float("nan")),
               step_times_ms=[round(t * 1e3, 3) for t in step_times],
               tokens_per_s=world * args.micro_batch * seq_len / step_s,
               mem_peak_gib=stats[-2].item() if cuda else None, mem_reserved_gib=stats[-1].item() if cuda else None)
    if loss_v is not None and not math.isfinite(loss_v):
        row["loss_note"] = "non-finite loss"
    if rank == 0 and not args.skip_flops:
        ff = None
        for dev in ("cuda", "cpu") if cuda else ("cpu",):
            try:  # pair counting is bookkeeping: a failure here keeps the measured row
                ff = flops_facts(model, n, row["matmul_params"], device=dev)
                break
            except Exception as e:  # noqa: BLE001
                row["flops_error"] = f"{type(e).__name__} (on {dev}): {e}"[:500]
        if ff is None:
            return
        row.pop("flops_error", None)
        tok_per_gpu_s = args.micro_batch * n / step_s
        row.update(ff, model_tflops_per_gpu=ff["model_flops_per_token"] * tok_per_gpu_s / 1e12,
                   dense_equiv_tflops_per_gpu=ff["dense_equiv_flops_per_token"] * tok_per_gpu_s / 1e12)
        row["mfu"] = row["model_tflops_per_gpu"] / args.peak_tflops


# ---------------------------------------------------------------------------------------------
# rows, table


def _git_commit() -> str | None:
    commit = git_commit(ROOT, short=True)  # ZOO_CODE_COMMIT on the GPU machine, whose git is stale
    return None if commit == "unknown" else commit


def zoo_switches() -> str:
    """The ZOO_* A/B switches set for this run (ZOO_NO_CLASS_HEADS=1, ZOO_FUSED_QKV=1, ...): rows
    with any are controls, not the default path (tools/results_summary.py skips them)."""
    return " ".join(f"{k}={v}" for k, v in sorted(os.environ.items())
                    if k.startswith("ZOO_") and k != "ZOO_CODE_COMMIT")


def base_row(args: argparse.Namespace) -> dict[str, Any]:
    import deepspeed

    return {
        "tag": args.tag, "model": args.model, "attention_mode": args.attention, "seq_len": args.seq_len,
        "micro_batch": args.micro_batch, "world_size": int(os.environ.get("WORLD_SIZE", "1")),
        "zero": 3 if args.offload else args.zero, "offload": bool(args.offload), "grad_ckpt": bool(args.grad_ckpt),
        **({"ds_set": list(args.ds_set)} if args.ds_set else {}),
        **({"env": env} if (env := zoo_switches()) else {}),
        "steps": args.steps, "warmup": args.warmup, "peak_tflops": args.peak_tflops,
        "gpu": None, "torch": torch.__version__, "deepspeed": deepspeed.__version__, "cuda": torch.version.cuda,
        "python": platform.python_version(), "host": platform.node(), "git_commit": _git_commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join([sys.executable, *sys.argv]) if args.command is None else args.command,
    }


# ---------------------------------------------------------------------------------------------
# CLI


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="registry name; a unique tag may be left out")
    ap.add_argument("--seq-len", type=int, default=None, help="tokens (lm/encoder: max_seq_len; pixel: "
                    "channels*side^2); default: the model's own")
    ap.add_argument("--attention", choices=("model", "dense"), default="model",
                    help="the model's pattern, or the same model with dense attention")
    ap.add_argument("--attn-backend", choices=("auto", "flex", "reference", "dense"), default=None)
    ap.add_argument("--grad-ckpt", action="store_true", help="activation checkpointing per block")
    ap.add_argument("--compile", action="store_true", help="torch.compile each block (model config 'compile')")
    ap.add_argument("--micro-batch", type=int, default=1)
    ap.add_argument("--steps", type=int, default=10, help="timed steps")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first (flex compiles here)")
    ap.add_argument("--zero", type=int, choices=(0, 1, 2, 3), default=2)
    ap.add_argument("--offload", action="store_true", help="ZeRO-3 with optimizer + parameters on CPU")
    ap.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None, help="default: on with CUDA")
    ap.add_argument("--ds-config", default=None, help="a DeepSpeed JSON instead of configs/deepspeed/zero*.json")
    ap.add_argument("--ds-set", action="append", default=[], metavar="KEY=JSON",
                    help="set one DeepSpeed config entry, dotted key, JSON value (repeatable): "
                         "--ds-set bf16.check_grad_overflow=false")
    ap.add_argument("--peak-tflops", type=float, default=DEFAULT_PEAK_TFLOPS)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="JSON list file; one row appended per invocation (rank 0)")
    ap.add_argument("--tag", default=None)
    ap.add_argument("--profile-steps", type=int, default=0,
                    help="after the timed steps, profile this many (torch.profiler): top GPU ops, GPU busy time")
    ap.add_argument("--skip-flops", action="store_true", help="leave out pair counting (search trials)")
    ap.add_argument("--max-len-search", action="store_true")
    ap.add_argument("--max-len-cap", type=int, default=1 << 20)
    ap.add_argument("--bisect", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--bisect-grid", type=int, default=1024)
    ap.add_argument("--trial-steps", type=int, default=2)
    ap.add_argument("--trial-timeout", type=float, default=300.0, help="seconds per search trial")
    ap.add_argument("--search-budget", type=float, default=540.0, help="seconds for the whole search")
    ap.add_argument("--local_rank", "--local-rank", dest="local_rank", type=int, default=None)
    ap.add_argument("--command", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.micro_batch < 1 or args.steps < 1 or args.warmup < 0:
        ap.error("--micro-batch and --steps must be >= 1, --warmup >= 0")
    args.ds_entries = []  # --ds-set as (dotted key split, value)
    for item in args.ds_set:
        key, eq, value = item.partition("=")
        try:
            args.ds_entries.append((key.split("."), json.loads(value)))
        except json.JSONDecodeError:
            eq = ""
        if not eq or not key:
            ap.error(f"--ds-set takes KEY=JSON (e.g. bf16.check_grad_overflow=false), got {item!r}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.local_rank is None and "LOCAL_RANK" in os.environ:
        args.local_rank = int(os.environ["LOCAL_RANK"])
    if args.max_len_search:
        from max_len_search import max_len_search  # tools/, beside this file

        if int(os.environ.get("RANK", "0")) != 0:
            return 0  # a search is one process spawning its trials; other launcher ranks leave
        try:
            row = max_len_search(args)
        except Exception as e:  # noqa: BLE001 - every failure is a row
            row = {**base_row(args), "kind": "max_len_search", "error": f"{type(e).__name__}: {e}"}
        if args.out:
            append_rows(args.out, [row])
        for t in row.get("trials") or []:
            print(f"  trial N={t['seq_len']}: {t['status']}, {t['wall_s']} s"
                  + (f", step {t['step_ms']:.0f} ms" if t.get("step_ms") else "")
                  + (f", {t['mem_peak_gib']:.1f} GiB" if t.get("mem_peak_gib") else ""))
        print_table([row])
        return 1 if row.get("error") else 0

    row = base_row(args)
    try:
        bench(args, row)
    except Exception as e:  # noqa: BLE001 - every failure is a row
        row.update(error=f"{type(e).__name__}: {e}"[:2000], oom=is_oom(e),
                   traceback=traceback.format_exc()[-3000:])
        print(f"bench_train: {row['error'][:500]}", file=sys.stderr, flush=True)
    finally:
        import gc

        gc.collect()
        if on_cuda():
            torch.cuda.empty_cache()
    rank = 0
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        rank = dist.get_rank()
    else:
        rank = int(os.environ.get("RANK", "0"))
    if rank == 0:
        if args.out:
            append_rows(args.out, [row])
        print_table([row])
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    return 1 if row.get("error") else 0


if __name__ == "__main__":
    sys.exit(main())
