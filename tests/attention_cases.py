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
