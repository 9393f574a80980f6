"""Autoregressive decoding shared by the causal families: sampling with temperature and top-k
(Fan et al. 2018, "Hierarchical Neural Story Generation"), the incremental loop over the core's
KV caches, and beam search for captioning (length-normalised as in Wu et al. 2016, GNMT).

A model supplies ``step(tokens, caches, start) -> logits (B, n, V)``: with caches, ``tokens``
holds only the new positions ``start .. start + n - 1``; without, the whole sequence from 0.
Both paths must give the same logits (tests check it), so use_cache only changes the cost.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from ..attention import KVCache

Step = Callable[[Tensor, "list[KVCache] | None", int], Tensor]


def sample_next(logits: Tensor, temperature: float = 0.0, top_k: int | None = None,
                generator: torch.Generator | None = None) -> Tensor:
    """Next token ids (B,) from logits (B, V): greedy when temperature == 0."""
    if temperature <= 0:
        return logits.argmax(-1)
    logits = logits.float() / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


@torch.no_grad()
def decode(step: Step, prompt: Tensor, max_new_tokens: int, *, new_caches: Callable[[], list[KVCache]],
           use_cache: bool = True, temperature: float = 0.0, top_k: int | None = None,
           eos_id: int | None = None, pad_id: int = 0, generator: torch.Generator | None = None) -> Tensor:
    """Extend ``prompt`` (B, N0 >= 1) by ``max_new_tokens``; returns the new tokens (B, T).

    With ``eos_id``, a sequence that emitted it is padded with ``pad_id`` afterwards and decoding
    stops early once every sequence has finished.
    """
    caches = new_caches() if use_cache else None
    tokens = prompt
    logits = step(tokens, caches, 0)[:, -1]  # (B, V)
    out = []
    done = torch.zeros(prompt.shape[0], dtype=torch.bool, device=prompt.device)
    for t in range(max_new_tokens):
        nxt = sample_next(logits, temperature, top_k, generator)
        if eos_id is not None:
            nxt = torch.where(done, torch.full_like(nxt, pad_id), nxt)
            done = done | (nxt == eos_id)
        out.append(nxt)
        if t == max_new_tokens - 1 or (eos_id is not None and bool(done.all())):
            break
        tokens = torch.cat([tokens, nxt[:, None]], dim=1)
        if use_cache:
            logits = step(nxt[:, None], caches, tokens.shape[1] - 1)[:, -1]
        else:
            logits = step(tokens, None, 0)[:, -1]
    return torch.stack(out, dim=1)


def reorder_caches(caches: list[KVCache] | None, index: Tensor) -> None:
    """Keep batch rows ``index`` of every cache (beam search)."""
    for c in caches or []:
        if c.k is not None:
            c.reorder(index)


@torch.no_grad()
def beam_search(step: Step, prompt: Tensor, max_new_tokens: int, *, new_caches: Callable[[], list[KVCache]],
                num_beams: int, eos_id: int, pad_id: int = 0, use_cache: bool = True,
                length_penalty: float = 1.0) -> Tensor:
    """Beam search; returns the best continuation per example (B, T), eos then ``pad_id``.

    Scores are summed log-probabilities; finished hypotheses are ranked by score / length **
    length_penalty (Wu et al. 2016, GNMT, without the +5 smoothing).
    """
    B, K = prompt.shape[0], num_beams
    dev = prompt.device
    caches = new_caches() if use_cache else None
    logp = torch.log_softmax(step(prompt, caches, 0)[:, -1].float(), -1)  # (B, V)
    V = logp.shape[-1]
    # expand to B*K beams; only beam 0 is live at the start so the first step picks K distinct tokens
    index = torch.arange(B, device=dev).repeat_interleave(K)
    reorder_caches(caches, index)
    tokens = prompt[index]  # (B*K, N0)
    scores = torch.full((B, K), float("-inf"), device=dev)
    scores[:, 0] = 0.0
    gen = torch.empty(B * K, 0, dtype=torch.long, device=dev)
    finished = torch.zeros(B * K, dtype=torch.bool, device=dev)
    lengths = torch.zeros(B * K, dtype=torch.long, device=dev)  # tokens up to and including eos
    logp = logp[index]
    for t in range(max_new_tokens):
        # a finished beam can only extend with pad at no cost
        logp = torch.where(finished[:, None], torch.full_like(logp, float("-inf")), logp)
        logp[finished, pad_id] = 0.0
        cand = (scores.view(B * K, 1) + logp).view(B, K * V)
        top, idx = cand.topk(K, dim=-1)  # (B, K)
        beam = idx // V + torch.arange(B, device=dev)[:, None] * K
        beam, tok = beam.flatten(), (idx % V).flatten()
        scores = top
        gen = torch.cat([gen[beam], tok[:, None]], dim=1)
        lengths = lengths[beam] + (~finished[beam]).long()
        finished = finished[beam] | (tok == eos_id)
        tokens = torch.cat([tokens[beam], tok[:, None]], dim=1)
        if bool(finished.all()) or t == max_new_tokens - 1:
            break
        reorder_caches(caches, beam)
        if use_cache:
            logits = step(tok[:, None], caches, tokens.shape[1] - 1)[:, -1]
        else:
            logits = step(tokens, None, 0)[:, -1]
        logp = torch.log_softmax(logits.float(), -1)
    norm = scores.flatten() / lengths.clamp(min=1).float() ** length_penalty
    best = norm.view(B, K).argmax(-1) + torch.arange(B, device=dev) * K
    return gen[best]
