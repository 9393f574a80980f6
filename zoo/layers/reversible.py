"""Reversible residual layers (Gomez et al. 2017, "The Reversible Residual Network"), as used by
Reformer (Kitaev et al. 2020): activations are recomputed from the outputs in the backward pass,
so memory does not grow with depth.

Two streams (x1, x2) start as copies of the input; each block maps
    y1 = x1 + F(x2),   y2 = x2 + G(y1)        with F = attention branch, G = MLP branch,
and the stack returns (y1 + y2) / 2. The backward pass inverts x2 = y2 - G(y1), x1 = y1 - F(x2)
block by block, replaying dropout with the saved RNG state, so gradients equal those of the same
computation under ordinary autograd (``memory_saving=False``); tests check it.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


class _RngState:
    """CPU (and current CUDA device) RNG state, to replay dropout exactly in the backward pass."""

    def __init__(self, device: torch.device):
        self.cpu = torch.get_rng_state()
        self.cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
        self.device = device

    def restore(self):
        torch.set_rng_state(self.cpu)
        if self.cuda is not None:
            torch.cuda.set_rng_state(self.cuda, self.device)


def _replay(state: _RngState, fn, *args, **kwargs):
    devices = [state.device] if state.cuda is not None else []
    with torch.random.fork_rng(devices=devices, enabled=True):
        state.restore()
        return fn(*args, **kwargs)


class _ReversibleFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x1: Tensor, x2: Tensor, blocks: nn.ModuleList, kwargs: dict):
        ctx.blocks, ctx.kwargs, ctx.states = blocks, kwargs, []
        with torch.no_grad():
            for blk in blocks:
                s_f = _RngState(x1.device)
                x1 = x1 + blk.attn_branch(x2, **kwargs)
                s_g = _RngState(x1.device)
                x2 = x2 + blk.mlp_branch(x1)
                ctx.states.append((s_f, s_g))
        ctx.save_for_backward(x1, x2)
        return x1, x2

    @staticmethod
    def backward(ctx, dy1: Tensor, dy2: Tensor):
        y1, y2 = ctx.saved_tensors
        for blk, (s_f, s_g) in zip(reversed(ctx.blocks), reversed(ctx.states)):
            with torch.enable_grad():
                y1_ = y1.detach().requires_grad_(True)
                g = _replay(s_g, blk.mlp_branch, y1_)
                torch.autograd.backward(g, dy2)
            with torch.no_grad():
                x2 = y2 - g.detach()
                dx1 = dy1 + y1_.grad
            with torch.enable_grad():
                x2_ = x2.detach().requires_grad_(True)
                f = _replay(s_f, blk.attn_branch, x2_, **ctx.kwargs)
                torch.autograd.backward(f, dx1)
            with torch.no_grad():
                x1 = y1 - f.detach()
                dx2 = dy2 + x2_.grad
            y1, y2, dy1, dy2 = x1, x2, dx1, dx2
        return dy1, dy2, None, None


def reversible_forward(blocks: nn.ModuleList, x: Tensor, *, caches=None, memory_saving: bool = True,
                       **kwargs) -> Tensor:
    """Run blocks (with ``attn_branch`` / ``mlp_branch``) as a reversible stack. x (B, N, C).

    With ``memory_saving`` and gradients enabled, activations are recomputed in the backward pass;
    otherwise (decoding with caches, evaluation, the test's reference) the same coupling runs
    under ordinary autograd.
    """
    if memory_saving and caches is None and torch.is_grad_enabled() and x.requires_grad:
        y1, y2 = _ReversibleFunction.apply(x, x, blocks, kwargs)
        return (y1 + y2) / 2
    x1 = x2 = x
    for i, blk in enumerate(blocks):
        x1 = x1 + blk.attn_branch(x2, cache=None if caches is None else caches[i], **kwargs)
        x2 = x2 + blk.mlp_branch(x1)
    return (x1 + x2) / 2
