"""FlexAttention kernel tiles chosen by measurement, not torch's defaults.

On the H200 with torch 2.11, the backward of every in-graph attention call of the two flagship
models ran faster with 64 x 64 backward tiles and 4 warps than with torch's default (64 x 128 tiles,
8 warps), with bit-identical gradients (the MMA accumulates in the same order): pixel_base_strided's
dilated layer 8.465 -> 6.92 ms, its sliding layer 9.56 -> 8.95, lm_base_longformer's sliding 5.34 ->
5.06, dilated 9.67 -> 9.14 ms fwd+bwd (benchmarks/flex_tiles_h200.json, session 15); the pixel training
step at 12,288 x 32 308.4 -> 298.3 ms (train_h200.json). They are applied only where measured: an
NVIDIA sm90 GPU (H100/H200; torch's defaults differ per architecture), bf16 inputs, head dim 64,
BlockMask blocks the tiles divide. ``ZOO_FLEX_TILES=0`` (read per call) leaves torch's own, for A/B timing.
Where these tiles apply, fused static patterns run on 64-token BlockMask blocks (``fused_block``; the
default since session 18, ``ZOO_FLEX_BLOCK=128`` for the old), whose forward then needs 64 x 64 tiles,
and whose backward needs torch 2.11's default-tile filter to judge the pinned tiles
(``install_backward_filter_fix``).
"""
from __future__ import annotations

import dataclasses
import os
import sys

import torch
from torch import Tensor

# bwd_-prefixed (timed unprefixed; the backward strips the prefix, so it reads them alike): the forward
# and the decoding kernel then drop these keys instead of receiving them
BWD_TILES = dict(bwd_BLOCK_M1=64, bwd_BLOCK_N1=64, bwd_BLOCK_M2=64, bwd_BLOCK_N2=64, bwd_num_warps=4, bwd_num_stages=3)
# the forward's tiles on 64-token blocks (torch 2.11 keeps its 128-row default there); fwd_-prefixed so the
# backward drops them
FWD_TILES_64 = dict(fwd_BLOCK_M=64, fwd_BLOCK_N=64, fwd_num_warps=4, fwd_num_stages=3)
# the backward's tiles on 64-token blocks: 32 query rows a step (BLOCK_M1 of dk/dv, BLOCK_N2 of dq) instead of 64
# (session 26, attention_h200.json run 60, H200, fwd+bwd at 16k / 64k, same process: sliding window 2.14 -> 2.01 /
# 2.18 -> 2.05 ms, dilated 2.33 -> 2.20 / 2.35 -> 2.22, strided 3.99 -> 3.67 / 4.70 -> 4.34, Longformer 3.04 -> 2.94,
# BigBird 3.37 -> 3.44 at 16k (3.52 on the base again: noise), bit-identical gradients). The calls whose appended key
# copies walk every query block (joined.py, global_copies.py) take them only where they won twice in alternating
# order (session 27, s27_diag.py, attention_h200.json run 62; fwd+bwd ms, 64 rows / 32 rows, bit-identical
# gradients): Longformer's global copies at 64k 3.64, 3.67 / 3.40, 3.38 (taken: COPIES_ROWS32; causal Longformer's
# copies follow the non-causal measurement), BigBird's 4.08, 4.12 / 4.37, 4.32 (not taken); fixed joined at 16k
# 3.38, 3.38 / 3.27, 3.26 (taken below JOINED_ROWS32_BELOW tokens: 32k, between the two lengths, is unmeasured, and
# the models' shorter lengths (2k-12k, run 64) were timed on 32 rows with no 64-row control) and at 64k 8.08, 7.98 /
# 8.28, 8.29 (not taken). "Bit-identical" is per call; a training run's loss can still move in the 7th digit
# (the LM's after 10 steps: 5.5451221 vs 5.5451226; the cause was not isolated).
# ZOO_FLEX_BWD32=0 (read per call) keeps 64 everywhere.
BWD_TILES_32 = dict(bwd_BLOCK_M1=32, bwd_BLOCK_N2=32)
COPIES_ROWS32 = frozenset({"longformer"})  # patterns (by registry name) whose global copies take BWD_TILES_32
JOINED_ROWS32_BELOW = 65536  # joined calls over fewer tokens take BWD_TILES_32
MEASURED_ARCH = (9, 0)
BLOCKS = (64, 128)


def copies_rows32(pattern_name: str) -> bool:
    """Whether a pattern's global key copies take BWD_TILES_32 (read at call time, so tests can patch)."""
    return pattern_name in COPIES_ROWS32


def joined_rows32(n: int) -> bool:
    """Whether a joined call over ``n`` tokens takes BWD_TILES_32 (read at call time, so tests can patch)."""
    return n < JOINED_ROWS32_BELOW


@torch.compiler.assume_constant_result  # a constant to a compiled block's graph, never a break
def _measured_gpu(index: int) -> bool:
    """Whether CUDA device ``index`` is the architecture the tiles were timed on (not ROCm)."""
    return torch.version.hip is None and torch.cuda.get_device_capability(index) == MEASURED_ARCH


def _measured(device: torch.device, dtype: torch.dtype, head_dim: int) -> bool:
    """Whether inputs like these get BWD_TILES: bf16, head dim 64, an sm90 GPU, ZOO_FLEX_TILES not 0."""
    return (os.environ.get("ZOO_FLEX_TILES") != "0" and device.type == "cuda" and dtype == torch.bfloat16
            and head_dim == 64 and _measured_gpu(device.index or 0))


def fused_block(device: torch.device, dtype: torch.dtype, n_q: int, head_dim: int) -> int:
    """BlockMask block of a fused static pattern, or of a routed band (kernels/routed.py), for these
    queries (``ZOO_FLEX_BLOCK`` read per call): 64 by
    default where measured (an sm90 GPU where flex_tiles gives 64-wide tiles; torch 2.11's own do not divide
    64-token blocks, so ``ZOO_FLEX_TILES=0`` means 128 too), else 128; ``ZOO_FLEX_BLOCK=128`` keeps 128
    everywhere, ``=64`` also gives 64 on the CPU (to test that path). A query block of 64 rows spans a
    window of w keys with w + 64 keys instead of w + 128 (the LM's causal 128-key windows: 67% of the
    computed pairs allowed instead of 50%), and Longformer's 32 global rows fill half a block instead of a
    quarter: on the H200 the sliding window 192 -> 220 useful TFLOP/s at 16k, the pixel step 284 -> 279 ms,
    the LM's 221 -> 217 ms with its per-head top layers still on 128 (session 18; 220 -> 211 ms with every
    layer on 64, session 17). Per-head masks too, since block_mask._tile_tables was mended (session 18).
    Always 128 for fewer than 128 queries (flex decoding's tile has up to 128 rows)."""
    value = os.environ.get("ZOO_FLEX_BLOCK")
    if value is not None and value not in {str(b) for b in BLOCKS}:
        raise ValueError(f"ZOO_FLEX_BLOCK must be one of {BLOCKS}, got {value!r}")
    if value == "128" or n_q < 128:
        return 128
    if device.type == "cpu":
        return 64 if value == "64" else 128
    return 64 if _measured(device, dtype, head_dim) else 128


def flex_tiles(q: Tensor, block_size, kernel_options: dict | None = None, rows32: bool = True) -> dict:
    """kernel_options for a FlexAttention call on q (B, H, N, D) with a BlockMask of ``block_size``
    (an int or BlockMask.BLOCK_SIZE): the caller's when given ({} means torch's defaults), else BWD_TILES
    where they were measured to win (on 64-token blocks with FWD_TILES_64, and BWD_TILES_32 unless
    ``rows32`` is False or ZOO_FLEX_BWD32=0), else {}."""
    if kernel_options is not None:
        return kernel_options
    blocks = (block_size,) if isinstance(block_size, int) else tuple(block_size)
    if any(b % 64 for b in blocks) or not _measured(q.device, q.dtype, q.shape[-1]):
        return {}
    tiles = dict(BWD_TILES)
    if max(blocks) < 128 and q.shape[-2] >= 128:  # 64-token blocks (fused_block: never for fewer queries)
        tiles.update(FWD_TILES_64)
        if rows32 and os.environ.get("ZOO_FLEX_BWD32") != "0":
            tiles.update(BWD_TILES_32)
    return tiles


_BWD_TILE_KEYS = ("BLOCK_M1", "BLOCK_N1", "BLOCK_M2", "BLOCK_N2")
_LOWERING = "flex_attention_backward"  # the inductor lowering that asks for the configs


def _pinned_backward_tiles(kernel_options) -> dict | None:
    """{"block_m1": .., "block_n1": .., "block_m2": .., "block_n2": ..} where kernel_options pins all
    four backward tiles (bwd_-prefixed or not), else None."""
    opts = kernel_options if isinstance(kernel_options, dict) else {}
    tiles = {k.lower(): opts.get("bwd_" + k, opts.get(k)) for k in _BWD_TILE_KEYS}
    return tiles if all(isinstance(t, int) for t in tiles.values()) else None


def _lowering_kernel_options(frame, depth: int = 4):
    """The ``kernel_options`` local of the flex backward lowering among the callers, else None."""
    for _ in range(depth):
        frame = frame.f_back if frame is not None else None
        if frame is not None and frame.f_code.co_name == _LOWERING:
            return frame.f_locals.get("kernel_options")
    return None


def install_backward_filter_fix() -> None:
    """torch 2.11's backward lowering drops every default config whose own tiles (64 x 128 on sm90) do
    not divide the BlockMask's blocks before the caller's pinned tiles replace them, so every backward
    on 64-token blocks found no choice (NoValidChoicesError on the H200, session 17) though BWD_TILES
    divide them. InductorChoices.get_flex_attention_bwd_configs is wrapped (once) to hand that lowering
    configs carrying the tiles its kernel_options pin, so the filter judges the tiles that will run, as
    torch 2.14's does. Any other call, or one that pins no tiles (torch's own, a peer's plain
    FlexAttention), gets torch's configs unchanged. Called where a BlockMask on blocks smaller than
    torch's tiles is built (block_mask.from_kv_blocks), never while tracing: the lowering runs later."""
    try:
        from torch._inductor.choices import InductorChoices
    except ImportError:  # a torch without inductor: nothing compiles FlexAttention
        return
    orig = getattr(InductorChoices, "get_flex_attention_bwd_configs", None)
    if orig is None or getattr(orig, "_zoo_pinned", False):  # none to wrap, or wrapped already
        return

    def get_flex_attention_bwd_configs(self, *args, **kwargs):
        configs = orig(self, *args, **kwargs)
        try:
            pinned = _pinned_backward_tiles(_lowering_kernel_options(sys._getframe()))
            if pinned is None:
                return configs
            return [dataclasses.replace(c, **pinned) if dataclasses.is_dataclass(c) and hasattr(c, "block_m1")
                    else c for c in configs]
        except Exception:  # noqa: BLE001 - a torch whose configs look otherwise: its own, unchanged
            return configs
    get_flex_attention_bwd_configs._zoo_pinned, get_flex_attention_bwd_configs.__wrapped__ = True, orig
    InductorChoices.get_flex_attention_bwd_configs = get_flex_attention_bwd_configs
