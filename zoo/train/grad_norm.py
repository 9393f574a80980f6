"""DeepSpeed ZeRO-1/2's gradient norm (for clipping) in one grouped launch instead of two per tensor.

Why: ``DeepSpeedZeroOptimizer.get_grad_norm_direct`` takes each gradient's norm on its own (a
copy to the norm dtype and a norm: ~300 launches for the LM's 147 tensors) and then synchronises
on a host-to-device copy of -1. On the H200 the optimizer step of ``lm_base_longformer`` at
16k x 16 took 11-13 ms of host time for ~1 ms of kernels, and the GPU waited
(``benchmarks/train_h200.json``, session 19, ``host_vs_gpu``). ``torch._foreach_norm`` gives the
per-tensor norms in one grouped launch, accumulated in fp32 as torch's own ``clip_grad_norm_``
does (DeepSpeed's loop accumulates in fp64: equal to ~1e-6 relative). The sum, the all-reduces over
the data- and model-parallel groups and DeepSpeed's -1 sentinel for a non-finite norm are kept.
``ZOO_FUSED_GRAD_NORM=0`` keeps DeepSpeed's own loop (A/B timing).
"""
from __future__ import annotations

import os
import types
from typing import Any

import torch


def install_fused_grad_norm(optimizer: Any) -> bool:
    """Replace ``optimizer.get_grad_norm_direct`` on a ZeRO stage 1/2 optimizer; True if installed.

    Any other optimizer (ZeRO-3, bf16 without ZeRO, a plain torch one) is left alone, as is CPU
    offload, whose norm takes another route (``complete_grad_norm_calculation_for_cpu_offload``)."""
    from deepspeed.runtime.zero.stage_1_and_2 import DeepSpeedZeroOptimizer
    if (os.environ.get("ZOO_FUSED_GRAD_NORM") == "0" or not isinstance(optimizer, DeepSpeedZeroOptimizer)
            or optimizer.cpu_offload):
        return False
    optimizer.get_grad_norm_direct = types.MethodType(_grad_norm_direct, optimizer)
    return True


def _grad_norm_direct(self: Any, gradients: list[torch.Tensor], params: list[torch.nn.Parameter],
                      norm_type: float = 2) -> torch.Tensor:
    """DeepSpeed's ``get_grad_norm_direct`` for the 2-norm, its per-tensor loop as one foreach call."""
    from deepspeed import comm as dist
    from deepspeed.runtime.constants import PIPE_REPLICATED
    from deepspeed.runtime.utils import is_model_parallel_parameter
    from deepspeed.runtime.zero.stage_1_and_2 import DeepSpeedZeroOptimizer
    from deepspeed.runtime.zero.utils import get_norm_dtype

    if float(norm_type) != 2.0:
        return DeepSpeedZeroOptimizer.get_grad_norm_direct(self, gradients, params, norm_type)
    grads = (g for g in gradients if not getattr(g, "_zero_padding", False))
    counted = [g.detach() for g, p in zip(grads, params)  # pipeline replicas once; tensor-parallel shards all
               if not (hasattr(p, PIPE_REPLICATED) and p.ds_pipe_replicated)
               and (is_model_parallel_parameter(p) or self.model_parallel_rank == 0)]
    if counted:
        try:  # a private op: a torch without it (or its dtype argument) gets DeepSpeed's loop
            norms = torch._foreach_norm(counted, 2.0, dtype=torch.float32)  # fp32 accumulation: the fused route
        except (AttributeError, TypeError):
            return DeepSpeedZeroOptimizer.get_grad_norm_direct(self, gradients, params, norm_type)
        total = torch.stack(norms).to(self.device, get_norm_dtype()).pow(2).sum().float()  # ()
    else:
        total = torch.zeros((), dtype=torch.float32, device=self.device)
    dist.all_reduce(total, op=dist.ReduceOp.SUM, group=self.dp_process_group)
    self._model_parallel_all_reduce(tensor=total, op=dist.ReduceOp.SUM)
    total = total.sqrt()
    return total.masked_fill_(~torch.isfinite(total), -1.0)  # DeepSpeed's sentinel, without its sync
