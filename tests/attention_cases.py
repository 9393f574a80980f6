"""The pattern cases every backend is checked on (small parameters so short sequences are sparse)."""
import dataclasses

import torch

from zoo.attention import build


def static_patterns():
    g = torch.Generator().manual_seed(1)
    return {
        "dense": build("dense"),
        "sliding_window": build("sliding_window", left=5, right=3),
        "dilated_window": build("dilated_window", left=3, right=2, dilation=3),  # residue-class pieces
        "dilated_window_r2": build("dilated_window", left=3, right=2, dilation=2),  # class heads at even n, else fused
        "dilated_window_per_head": build("dilated_window", left=3, right=2, dilation=[1, 2]),
        "longformer": build("longformer", window=6, global_tokens=3),
        "bigbird": build("bigbird", block=4, window_blocks=3, global_blocks=1, random_blocks=2),
        "strided": build("strided", stride=5),
        "strided_split": build("strided", stride=5, heads="split"),
        "fixed": build("fixed", stride=6, summary=2),
        "fixed_split": build("fixed", stride=6, summary=2, heads="split"),
        "learned": build("learned", layout=torch.rand(2, 63, 63, generator=g) > 0.7, block=16),
        "union": build("union", patterns=[build("sliding_window", left=2, right=2), build("strided", stride=7, heads="split")]),
        "intersection": build("intersection", patterns=[build("sliding_window", left=9, right=9), build("strided", stride=4)]),
        "prefix_lm": build("prefix_lm", prefix_len=10, base=build("sliding_window", left=6, right=6)),
    }


def with_causal(p, causal):
    return dataclasses.replace(p, causal=causal) if causal != p.causal else p


def global_token_inputs(n: int, padded: bool):
    """(q, k, v (2, 2, n, 8) fp64 needing grad, key padding mask or None) for the global-token
    decompositions (test_global_rows.py, test_global_copies.py): the padding drops the whole last
    70 keys of one example and three global keys of the other."""
    g = torch.Generator().manual_seed(n)
    q, k, v = (torch.randn(2, 2, n, 8, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(3))
    kpm = None
    if padded:
        kpm = torch.ones(2, n, dtype=torch.bool)
        kpm[0, -70:] = False
        kpm[1, :3] = False
    return q, k, v, kpm


def assert_matches_reference(out, lse, q, k, v, p, kpm, scale: float) -> None:
    """out, lse of a decomposition of pattern p equal the reference backend's, and so do the gradients
    of q, k, v under one random output gradient."""
    from zoo.attention import sparse_attention
    want, want_lse = sparse_attention(q, k, v, p, backend="reference", key_padding_mask=kpm, scale=scale,
                                      return_lse=True)
    torch.testing.assert_close(out, want)
    torch.testing.assert_close(lse, want_lse)
    do = torch.randn_like(out)
    for a, b in zip(torch.autograd.grad(out, (q, k, v), do), torch.autograd.grad(want, (q, k, v), do)):
        torch.testing.assert_close(a, b)


class DenseMask:
    """A stand-in BlockMask whose mask is evaluated on every (q', k') pair (of every head where
    ``heads`` > 1)."""

    def __init__(self, mask_mod, n_q, n_k, batch, heads=1):
        b = torch.arange(batch)[:, None, None, None]
        h = torch.arange(heads)[None, :, None, None]
        self.allowed = mask_mod(b, h, torch.arange(n_q)[None, None, :, None], torch.arange(n_k)[None, None, None, :])


def dense_flex(q, k, v, block_mask, scale, return_aux=None, return_lse=False, **_):
    """FlexAttention's contract, densely: rows with no key give zeros and lse -inf."""
    s = (q @ k.transpose(-1, -2) * scale).masked_fill(~block_mask.allowed, float("-inf"))
    lse = torch.logsumexp(s, -1)
    out = torch.exp(s - lse[..., None]).nan_to_num(0.0) @ v
    if return_aux is not None:
        return out, type("Aux", (), {"lse": lse})()
    return out, lse
