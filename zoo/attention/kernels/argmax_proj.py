"""Fused projection argmax (LSH buckets, nearest anchors): the index of each row's largest
projection, without writing the projections to memory.

LSH hashes a key by argmax([x R, -x R]) over N/64 random rotations per round, so at 65,536 tokens x
16 heads the projections are 4 GB of fp32, written by a GEMM and read back by max / min (H200:
routing took 7.35 of lsh's 11.75 ms fwd+bwd; at 16k the fp32 GEMM 1.06 ms and the max / min 0.86 ms).
Here one Triton program holds BLOCK_M keys, walks the columns in BLOCK_C tiles with tensor-core dots
and keeps a running max and min with their first index, so only the ids reach memory. The dots keep
fp32's accuracy: for bf16 keys on the GPU (the default there) as three bf16 products, since the keys
are exact in bf16 and w = w1 + w2 + w3 in bf16 holds fp32's 24 bits; otherwise (fp32 / fp16 keys,
Triton's CPU interpreter, whose bf16 dots are wrong, or ZOO_ARGMAX_PRECISION=tf32x3) as tf32x3, three
TF32 products. H200 (attention_h200.json run 44's diagnosis, B x N = 65,536, 16 heads): bf16x3 0.49 vs
tf32x3 0.87 ms at 16k and 1.60 vs 2.95 at 64k (LSH; anchors 0.10 vs 0.24), ids >= 99.9999% equal to
torch's fp32 ones. Ties go to the first index, as torch.argmax's do; the
scores differ from torch's fp32 GEMM in the last bits (another summation order), so a near-tie can
pick the other bucket, which LSH's and nearest-anchor semantics leave open anyway.

ZOO_FUSED_ROUTING=0 (read per call) turns it off (the eager / compiled torch code instead).
"""
from __future__ import annotations

import contextlib
import os

import torch
from torch import Tensor

try:
    import triton
    import triton.language as tl
except ImportError:  # torch without triton (some CPU builds): the torch code serves
    triton = None

# H200, lsh at 64k x 16 heads, D = 64 (benchmarks/jobs/s21_route_diag.py): 256 x 64 tiles with 8 warps
# 2.93 ms, 128 x 64 with 4 warps 3.84, 128 x 32 3.00, 128 x 128 4.45; torch's fp32 GEMM + max / min
# compiled 6.22. Fewer rows per tile for wider heads keep the (rows, D) fp32 tile in registers.
BLOCK_C, NUM_WARPS, MAX_D = 64, 8, 256


def block_m(d: int) -> int:
    """Rows per program for head dim d."""
    return 256 if d <= 64 else 128 if d <= 128 else 64


def _interpreting() -> bool:
    """Whether Triton runs kernels in its CPU interpreter (TRITON_INTERPRET, any of Triton's true values)."""
    return os.environ.get("TRITON_INTERPRET", "").strip().lower() in ("1", "true", "on", "yes")


def enabled(x: Tensor) -> bool:
    """Whether ids for x (B, H, N, D) come from the kernel: NVIDIA CUDA (ROCm's Triton has no tf32x3
    dots) or Triton's CPU interpreter (TRITON_INTERPRET=1, the tests), fp32/bf16/fp16, D <= 256, and
    ZOO_FUSED_ROUTING != 0."""
    on = (x.is_cuda and torch.version.hip is None) or _interpreting()
    return (triton is not None and on and os.environ.get("ZOO_FUSED_ROUTING") != "0"
            and x.dtype in (torch.float32, torch.bfloat16, torch.float16) and x.shape[-1] <= MAX_D
            and triton.cdiv(x.shape[2], block_m(x.shape[-1])) <= 65535)


PRECISIONS = ("tf32x3", "bf16x3")


def precision(x: Tensor) -> str:
    """The dot precision for keys x: ZOO_ARGMAX_PRECISION (default bf16x3) where it applies (bf16x3 needs
    bf16 keys on the GPU, compiled), else tf32x3."""
    want = os.environ.get("ZOO_ARGMAX_PRECISION", "bf16x3")
    if want not in PRECISIONS:
        raise ValueError(f"ZOO_ARGMAX_PRECISION must be one of {PRECISIONS}, got {want!r}")
    gpu = x.is_cuda and not _interpreting()
    return want if want == "tf32x3" or (gpu and x.dtype == torch.bfloat16) else "tf32x3"


def argmax_proj(x: Tensor, w: Tensor, groups: int, signed: bool) -> Tensor:
    """x (B, H, N, D), w (H, D, groups * C) or (B, H, D, groups * C) -> ids (groups, B, H, N): per group
    g, argmax over c of x . w[..., g * C + c], or with ``signed`` over [x w, -x w] (ids in [0, 2C), the
    first half winning ties). int32: the stable sort that follows takes half of int64's time. Call
    only where ``enabled(x)``."""
    B, H, N, D = x.shape
    if w.dim() == 3:
        w = w[None]
    if w.shape[-3:-1] != (H, D) or w.shape[0] not in (1, B) or w.shape[-1] % groups:
        raise ValueError(f"w must be (H, D, groups * C) or (B, H, D, groups * C) for x {tuple(x.shape)} and "
                         f"groups={groups}, got {tuple(w.shape)}")
    x = x.detach()
    if x.stride(-1) != 1:
        x = x.contiguous()
    w = w.detach().to(torch.float32).contiguous()
    out = torch.empty(groups, B, H, N, dtype=torch.int32, device=x.device)
    if out.numel():
        launch(x, w, out, signed, precision=precision(x))
    return out


def launch(x: Tensor, w: Tensor, out: Tensor, signed: bool, rows: int = 0, block_c: int = BLOCK_C,
           num_warps: int = NUM_WARPS, precision: str = "tf32x3") -> None:
    """The kernel on checked tensors (argmax_proj); other tile sizes (rows: 0 = block_m(D)) and dot
    precisions are for tuning runs (benchmarks/jobs)."""
    B, H, N, D = x.shape
    rows = rows or block_m(D)
    grid = (B * H, triton.cdiv(N, rows), out.shape[0])
    # Triton launches on the current GPU, which need not be x's
    with torch.cuda.device(x.device) if x.is_cuda else contextlib.nullcontext():
        _kernel[grid](x, w, out, N, w.shape[-1] // out.shape[0], H,
                      x.stride(0), x.stride(1), x.stride(2), w.stride(0) if w.shape[0] > 1 else 0, w.stride(1),
                      w.stride(2), out.stride(0), out.stride(1), out.stride(2),
                      D=D, BLOCK_D=max(16, triton.next_power_of_2(D)), BLOCK_M=rows, BLOCK_C=block_c,
                      SIGNED=signed, PRECISION=precision, num_warps=num_warps)


if triton is not None:
    @triton.jit
    def _kernel(x_ptr, w_ptr, out_ptr, N, C, H, sx_b, sx_h, sx_n, sw_b, sw_h, sw_d, so_g, so_b, so_h,
                D: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_C: tl.constexpr,
                SIGNED: tl.constexpr, PRECISION: tl.constexpr):
        bh = tl.program_id(0)
        g = tl.program_id(2).to(tl.int64)
        b = (bh // H).to(tl.int64)
        h = (bh % H).to(tl.int64)
        rows = tl.program_id(1) * BLOCK_M + tl.arange(0, BLOCK_M)  # (BLOCK_M,)
        dd = tl.arange(0, BLOCK_D)
        x = tl.load(x_ptr + b * sx_b + h * sx_h + rows[:, None].to(tl.int64) * sx_n + dd[None, :],
                    mask=(rows[:, None] < N) & (dd[None, :] < D), other=0.0)  # (BLOCK_M, BLOCK_D)
        x = x.to(tl.bfloat16) if PRECISION == "bf16x3" else x.to(tl.float32)
        w_base = w_ptr + b * sw_b + h * sw_h + g * C
        hi = tl.full((BLOCK_M,), float("-inf"), tl.float32)
        lo = tl.full((BLOCK_M,), float("inf"), tl.float32)
        hi_at = tl.zeros((BLOCK_M,), tl.int32)
        lo_at = tl.zeros((BLOCK_M,), tl.int32)
        for c0 in range(0, C, BLOCK_C):
            cols = c0 + tl.arange(0, BLOCK_C)
            ok = cols < C
            w = tl.load(w_base + dd[:, None] * sw_d + cols[None, :], mask=(dd[:, None] < D) & ok[None, :],
                        other=0.0)  # (BLOCK_D, BLOCK_C)
            if PRECISION == "bf16x3":  # w = w1 + w2 + w3 exactly in bf16; x exact; the small terms first
                w1 = w.to(tl.bfloat16)
                r = w - w1.to(tl.float32)
                w2 = r.to(tl.bfloat16)
                s = tl.dot(x, (r - w2.to(tl.float32)).to(tl.bfloat16))
                s = tl.dot(x, w2, s)
                s = tl.dot(x, w1, s)  # (BLOCK_M, BLOCK_C)
            else:
                s = tl.dot(x, w, input_precision=PRECISION)  # (BLOCK_M, BLOCK_C)
            t, t_at = tl.max(tl.where(ok[None, :], s, float("-inf")), axis=1, return_indices=True,
                             return_indices_tie_break_left=True)
            take = t > hi  # strict: an earlier tile keeps a tie
            hi = tl.where(take, t, hi)
            hi_at = tl.where(take, t_at + c0, hi_at)
            if SIGNED:
                t, t_at = tl.min(tl.where(ok[None, :], s, float("inf")), axis=1, return_indices=True,
                                 return_indices_tie_break_left=True)
                take = t < lo
                lo = tl.where(take, t, lo)
                lo_at = tl.where(take, t_at + c0, lo_at)
        ids = hi_at
        if SIGNED:
            ids = tl.where(hi >= -lo, hi_at, lo_at + C)
        tl.store(out_ptr + g * so_g + b * so_b + h * so_h + rows, ids, mask=rows < N)
