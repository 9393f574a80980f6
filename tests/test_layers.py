"""Layers: reversible residuals, activation checkpointing, position encodings, pattern schedules."""
import pytest
import torch

import zoo
from zoo.attention import build
from zoo.layers import (Block, FactorizedPosEmbed, RotaryEmbedding, apply_rotary, layer_patterns,
                        reversible_forward)



def _grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_reversible_gradients_equal_plain_autograd(dropout):
    """Memory-saving backward (recompute from outputs, replayed dropout) == ordinary autograd."""
    torch.manual_seed(0)
    pats = [build("sliding_window", causal=True, left=5, right=0), build("strided", causal=True, stride=4)]
    blocks = torch.nn.ModuleList(Block(16, 2, p, drop=dropout) for p in pats).double()
    x = torch.randn(2, 24, 16, dtype=torch.float64)
    grads, outs = [], []
    for saving in (True, False):
        blocks.zero_grad(set_to_none=True)
        xi = x.clone().requires_grad_(True)
        torch.manual_seed(1)
        y = reversible_forward(blocks, xi, memory_saving=saving)
        (y * torch.linspace(-1, 1, 16, dtype=torch.float64)).sum().backward()
        outs.append(y.detach())
        grads.append({**_grads(blocks), "input": xi.grad.clone()})
    torch.testing.assert_close(outs[0], outs[1])
    assert grads[0].keys() == grads[1].keys() and len(grads[0]) == sum(1 for _ in blocks.parameters()) + 1
    for k in grads[0]:
        torch.testing.assert_close(grads[0][k], grads[1][k], rtol=1e-9, atol=1e-10, msg=k)


def test_reversible_model_trains_and_masks_pass_through():
    model = zoo.create_model("encoder_tiny_longformer", reversible=True)
    batch = model.dummy_inputs(2)
    out = model(**batch)
    out["loss"].backward()
    assert all(p.grad is not None for p in model.parameters())


def test_grad_checkpointing_same_gradients():
    torch.manual_seed(0)
    model = zoo.create_model("lm_tiny_longformer")
    batch = model.dummy_inputs(2)
    model(**batch)["loss"].backward()
    ref = _grads(model)
    model.zero_grad(set_to_none=True)
    model.set_grad_checkpointing(True)
    assert model.backbone.grad_checkpointing
    model(**batch)["loss"].backward()
    for k, g in _grads(model).items():
        torch.testing.assert_close(g, ref[k], msg=k)
    assert zoo.create_model("lm_tiny_dense", grad_checkpointing=True).backbone.grad_checkpointing


def test_factorized_pixel_positions():
    pe = FactorizedPosEmbed((2, 3, 3), 4)  # rows, columns, channels
    full = pe(18)
    # position 13 = row 1, column 1, channel 1
    torch.testing.assert_close(full[13], pe.tables[0][1] + pe.tables[1][1] + pe.tables[2][1])
    torch.testing.assert_close(pe(5, offset=13), full[13:18])
    with pytest.raises(ValueError):
        pe(1, offset=18)


def test_factorized_positions_broadcast_path_equals_indexing():
    """Long requests broadcast the raster, short ones index it: same values, same gradients."""
    pe = FactorizedPosEmbed((4, 5, 3), 6)  # 60 positions
    for n, offset in ((60, 0), (40, 10), (31, 29)):  # 2n > 60: the broadcast path
        pos = torch.arange(offset, offset + n)
        idx = [(pos // 15) % 4, (pos // 3) % 5, pos % 3]
        want = sum(t[i] for t, i in zip(pe.tables, idx))
        got = pe(n, offset)
        assert torch.equal(got, want)
        w = torch.randn(n, 6)
        g_got = torch.autograd.grad((got * w).sum(), list(pe.tables))
        g_want = torch.autograd.grad((sum(t[i] for t, i in zip(pe.tables, idx)) * w).sum(), list(pe.tables))
        for a, b in zip(g_got, g_want):
            torch.testing.assert_close(a, b)


def test_rotary_is_relative():
    """q.k after rotary depends only on the distance between positions."""
    rot = RotaryEmbedding(8, 64)
    q, k = torch.randn(8), torch.randn(8)
    def dot(i, j):
        ci, si = rot.cos_sin(1, i, "cpu", torch.float32)
        cj, sj = rot.cos_sin(1, j, "cpu", torch.float32)
        return (apply_rotary(q[None], ci, si) * apply_rotary(k[None], cj, sj)).sum()
    torch.testing.assert_close(dot(10, 7), dot(33, 30))
    assert not torch.allclose(dot(10, 7), dot(10, 2))


def test_rotary_tables_are_computed_once_and_not_saved():
    """cos/sin come from buffers built at construction (RoFormer's angles t / base^(2i/d)), cast
    to the caller's dtype; they stay out of checkpoints, and positions past max_len are refused."""
    rot = RotaryEmbedding(8, 64, rot_dim=6)
    cos, sin = rot.cos_sin(5, 3, "cpu", torch.bfloat16)
    angles = torch.arange(3, 8, dtype=torch.float64)[:, None] / 10000.0 ** (torch.arange(0, 6, 2) / 6)
    assert cos.dtype == torch.bfloat16 and cos.shape == (5, 3)
    torch.testing.assert_close(cos.double(), angles.cos(), atol=4e-3, rtol=0)
    torch.testing.assert_close(sin.double(), angles.sin(), atol=4e-3, rtol=0)
    assert rot.state_dict() == {}
    with pytest.raises(ValueError, match="positions up to 65 exceed max_len=64"):
        rot.cos_sin(2, 63, "cpu", torch.float32)
    with pytest.raises(ValueError, match="max_len must be >= 1"):
        RotaryEmbedding(8, 0)


def test_growing_schedule_windows_and_dilation():
    pats = layer_patterns("sliding_window", {}, 6, causal=True, max_len=512, num_heads=4, schedule="growing",
                          schedule_params=dict(min_window=32, max_window=512, dilated_layers=2, dilated_heads=2))
    assert [p.name for p in pats] == ["sliding_window"] * 4 + ["dilated_window"] * 2
    lefts = [p.left for p in pats]
    assert lefts == sorted(lefts) and lefts[0] == 32 and lefts[-1] == 512
    assert pats[-1].dilation == (1, 1, 2, 2) and all(p.causal for p in pats)


def test_alternate_schedule_is_strided_split_over_layers():
    """A1 on even layers, A2 on odd layers; their union is the strided pattern."""
    pats = layer_patterns("strided", {"stride": 6}, 4, causal=True, max_len=48, num_heads=2, schedule="alternate")
    assert pats[0] == pats[2] and pats[1] == pats[3] and pats[0] != pats[1]
    union = pats[0].token_mask(48) | pats[1].token_mask(48)
    assert torch.equal(union, build("strided", causal=True, stride=6).token_mask(48))


def test_reformer_schedule_mixes_local_and_lsh():
    pats = layer_patterns("lsh", {"bucket_size": 8, "chunk": 8}, 4, causal=True, max_len=64, num_heads=2,
                          schedule="reformer", schedule_params={"every": 2})
    assert [p.name for p in pats] == ["sliding_window", "lsh", "sliding_window", "lsh"]


def test_schedule_errors():
    with pytest.raises(ValueError, match="unknown schedule"):
        layer_patterns("dense", {}, 2, causal=True, max_len=8, num_heads=2, schedule="nope")
    with pytest.raises(ValueError, match="alternate"):
        layer_patterns("fixed", {"stride": 4}, 2, causal=True, max_len=8, num_heads=2, schedule="alternate")


@pytest.mark.parametrize("norm,mlp,pos", [("rmsnorm", "swiglu", "rotary"), ("layernorm", "gelu", "learned")])
def test_norm_mlp_position_choices(norm, mlp, pos):
    model = zoo.create_model("lm_tiny_strided", norm=norm, mlp=mlp, pos=pos)
    model(**model.dummy_inputs(1))["loss"].backward()
    kinds = {type(m).__name__ for m in model.modules()}
    assert ("RMSNorm" in kinds) == (norm == "rmsnorm") and ("SwiGLU" in kinds) == (mlp == "swiglu")
    assert ("RotaryLinear" in kinds) == (pos == "rotary")


def test_no_weight_decay():
    model = zoo.create_model("encoder_tiny_longformer")
    skip = model.no_weight_decay()
    names = dict(model.named_parameters())
    assert {"cls_token", "pos_embed.weight"} <= skip
    assert all(names[n].ndim < 2 for n in skip if n not in {"cls_token", "pos_embed.weight"})
    assert "backbone.blocks.0.attn.qkv.weight" not in skip and "backbone.blocks.0.norm1.weight" in skip


def test_image_stems():
    """Both stems give (B, P, dim) over the same grid; the conv stem needs a power-of-two patch."""
    from zoo.layers.image_tokens import ConvStem, ImageTokens

    x = torch.rand(2, 3, 32, 32)
    for stem, patch in (("patch", 8), ("conv", 8), ("conv", 4)):
        tok = ImageTokens(32, patch, 48, stem=stem)
        assert tok(x).shape == (2, (32 // patch) ** 2, 48)
    with pytest.raises(ValueError, match="stem must be one of"):
        ImageTokens(32, 8, 48, stem="resnet")
    with pytest.raises(ValueError, match="power of two"):
        ConvStem(6, 48)


def test_compiled_blocks_match_eager_and_decode_eagerly():
    """compile=True: the same loss and gradients as eager training, through a real compiled graph
    (the attention core is left out of it); evaluation and KV-cache decoding bypass the graphs."""
    from torch._dynamo.utils import counters
    torch.manual_seed(0)
    eager = zoo.create_model("lm_tiny_longformer")
    compiled = zoo.create_model("lm_tiny_longformer", compile=True)
    compiled.load_state_dict(eager.state_dict())
    batch = eager.dummy_inputs(2)
    counters.clear()
    losses = [m(**batch)["loss"] for m in (eager, compiled)]
    assert counters["stats"]["unique_graphs"] >= 1  # the blocks really ran compiled
    for loss in losses:
        loss.backward()
    torch.testing.assert_close(losses[1], losses[0])
    ref = _grads(eager)
    for k, g in _grads(compiled).items():
        torch.testing.assert_close(g, ref[k], rtol=1e-4, atol=1e-6, msg=k)
    counters.clear()
    for m in (eager, compiled):
        m.eval()
    prompt = {"input_ids": batch["input_ids"][:, :5]}
    with torch.no_grad():
        assert torch.equal(compiled.generate(prompt, 4), eager.generate(prompt, 4))
    assert counters["stats"]["unique_graphs"] == 0  # decoding did not trace a graph per step
    with pytest.raises(ValueError, match="compile=True.*reversible"):
        zoo.create_model("lm_tiny_longformer", compile=True, reversible=True)
