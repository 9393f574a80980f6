"""The host-device syncs out of DeepSpeed 0.19.8's ZeRO-1/2 step for bf16 with gradient clipping.

With bf16 (``check_grad_overflow`` off, as our bf16 configs set it) and clipping,
``DeepSpeedZeroOptimizer.step`` synchronises with the GPU three times per parameter group:
``mask_nan_or_inf_with_val_inplace`` copies a Python -1.0 to the device and fills with it
(runtime/utils.py:887-888), and ``unscale_and_clip_grads`` asks ``bool(norm is invalid)``
(utils.py:233). The H200 profiles of session 14 list exactly these six syncs per step
(``sync_points``, benchmarks/train_h200.json): the host waits for the whole backward there, then
issues the rest of the step while the GPU idles: 21.8 ms of pixel_base_strided's 303.6 ms step at
12,288 x 32 (11.2 of 303.8 ms with DeepSpeed's plain gradient hooks; the LM at 16k x 16 with them,
16.2 of 227.1 ms). The replacements compute the same values on the device: non-finite norms still
become -1, and an invalid norm still clips with an infinite norm (gradients scaled to zero; the
training engine then stops the run, engine.check_finite). fp16 and overflow-checking configs keep
their own syncs (the step must know whether to skip), as does CPU offload's norm.
Applied once, by ``apply()``, for the DeepSpeed version checked here; others stay untouched, as
does everything under ``ZOO_DS_STEP_SYNCS=1`` (DeepSpeed's own step, for A/B timing).
"""
from __future__ import annotations

import math
import os

import torch

CHECKED = ("0.19.8",)  # DeepSpeed versions whose step these functions replace line for line
_original: dict = {}


def mask_nan_or_inf(input: torch.Tensor, device=None, val: float = -1.0) -> None:
    """utils.mask_nan_or_inf_with_val_inplace without the host-to-device copy of its -1 (which,
    like DeepSpeed's, ignores ``val``)."""
    input.masked_fill_(~torch.isfinite(input), -1.0)


def unscale_and_clip_grads(self, grad_groups_flat, total_norm) -> None:
    """DeepSpeedZeroOptimizer.unscale_and_clip_grads with the invalid-norm test on the device."""
    if not torch.is_tensor(total_norm):  # a Python norm has nothing to wait for
        return _original["unscale_and_clip_grads"](self, grad_groups_flat, total_norm)
    if self.clip_grad == 0.0 and self.loss_scale == 1.0:
        return
    combined_scale = self.loss_scale
    if self.clip_grad > 0.0:  # an invalid norm (non-finite or the -1 sentinel) clips as infinite
        bad = ~torch.isfinite(total_norm) | (total_norm < 0)
        clip_norm = torch.where(bad, torch.full_like(total_norm, math.inf), total_norm)
        clip = torch.clamp(((clip_norm / self.loss_scale) + 1e-6) / self.clip_grad, min=1.0)
        combined_scale = clip * self.loss_scale
    for grad in grad_groups_flat:
        for g in (grad if isinstance(grad, list) else [grad]):
            g.data.mul_(1.0 / combined_scale)


def apply() -> bool:
    """Install both replacements if this DeepSpeed's step is the one they were written against."""
    if _original:
        return True
    if os.environ.get("ZOO_DS_STEP_SYNCS") == "1":
        return False
    import deepspeed
    from deepspeed.runtime.zero import stage_1_and_2 as z
    if deepspeed.__version__.split("+")[0] not in CHECKED or not hasattr(z, "mask_nan_or_inf_with_val_inplace"):
        return False
    _original.update(mask=z.mask_nan_or_inf_with_val_inplace,
                     unscale_and_clip_grads=z.DeepSpeedZeroOptimizer.unscale_and_clip_grads)
    z.mask_nan_or_inf_with_val_inplace = mask_nan_or_inf
    z.DeepSpeedZeroOptimizer.unscale_and_clip_grads = unscale_and_clip_grads
    return True
