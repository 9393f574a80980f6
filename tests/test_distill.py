"""Distillation (zoo.distill, zoo.distill_layout): the losses, layout extraction on known attention
maps, per-layer learned layouts through a checkpoint, and `zoo distill` end to end (CPU, tiny)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from zoo import cli, create_model
from zoo import distill as D
from zoo import distill_layout as DL
from zoo.train.schema import RecipeError

ROOT = Path(__file__).resolve().parents[1]


# --- losses ----------------------------------------------------------------------------------------
def test_logit_kd_zero_when_equal_and_gradient_reaches_student_only():
    g = torch.Generator().manual_seed(0)
    t = torch.randn(2, 5, 11, generator=g, requires_grad=True)
    assert D.logit_kd_loss(t.detach().clone(), t, temperature=2.0).abs() < 1e-6
    s = torch.randn(2, 5, 11, generator=g, requires_grad=True)
    loss = D.logit_kd_loss(s, t, temperature=2.0)
    assert loss > 0
    loss.backward()
    assert s.grad is not None and s.grad.abs().sum() > 0 and t.grad is None
    # masked positions do not count; T^2 scaling keeps the gradient scale of T = 1
    mask = torch.zeros(2, 5, dtype=torch.bool)
    mask[:, :2] = True
    s2 = s.detach().clone()
    s2[:, 2:] += 100.0
    assert torch.allclose(D.logit_kd_loss(s2, t, 2.0, mask), D.logit_kd_loss(s.detach(), t, 2.0, mask))
    ref = (torch.softmax(t / 2, -1) * (torch.log_softmax(t / 2, -1) - torch.log_softmax(s / 2, -1))).sum(-1).mean() * 4
    assert torch.allclose(loss, ref, atol=1e-5)


def _lm(name, **kw):
    torch.manual_seed(0)
    return create_model(name, max_seq_len=64, attn_backend="dense", **kw)


@pytest.mark.parametrize("student_name", ["lm_tiny_dense", "lm_tiny_bigbird"])
def test_attention_kd_zero_for_same_weights_even_when_sparse(student_name):
    """A student with the teacher's weights has exactly the teacher's attention renormalised on
    its allowed keys, so the restricted KL is zero; perturbed weights give a positive loss whose
    gradient reaches the student's q/k projections."""
    teacher = _lm("lm_tiny_dense")
    student = _lm(student_name, pattern_params=dict(block=8) if "bigbird" in student_name else None)
    student.load_state_dict(teacher.state_dict())
    batch = teacher.dummy_inputs(2, seq_len=64)
    rows = torch.tensor([0, 5, 17, 40, 63])
    with torch.no_grad(), DL.AttentionTap(teacher, rows) as tt:
        teacher(**batch)
    with DL.AttentionTap(student, rows) as ts:
        student(**batch)
    assert len(ts.taps) == 2 and ts.taps[0].q.shape == (2, 2, 5, 16)
    assert DL.attention_kd_loss(ts.taps, tt.taps).abs() < 1e-5
    with torch.no_grad():
        for p in student.parameters():
            p.add_(0.05 * torch.randn_like(p))
    with DL.AttentionTap(student, rows) as ts:
        student(**batch)
    loss = DL.attention_kd_loss(ts.taps, tt.taps)
    assert loss > 0
    loss.backward()
    assert student.backbone.blocks[0].attn.qkv.weight.grad.abs().sum() > 0


def test_distill_step_combines_the_terms():
    teacher, student = _lm("lm_tiny_dense"), _lm("lm_tiny_bigbird", pattern_params=dict(block=8))
    batch = teacher.dummy_inputs(2, seq_len=64)
    spec = D.LossSpec(task=1.0, alpha=0.5, temperature=2.0, beta=0.3)
    total, parts = D.distill_step_loss(student, teacher, batch, spec, rows=torch.arange(0, 64, 4))
    assert set(parts) == {"task", "kd", "attn_kd"}
    assert abs(float(total.detach()) - (parts["task"] + 0.5 * parts["kd"] + 0.3 * parts["attn_kd"])) < 1e-4
    total.backward()
    assert all(p.grad is not None for p in student.parameters() if p.requires_grad)
    assert all(p.grad is None for p in teacher.parameters())


# --- layouts -------------------------------------------------------------------------------------
def _map_from_block_mass(mass: torch.Tensor, block: int, causal: bool) -> torch.Tensor:
    """Token-level row-stochastic attention (1, N, N) whose block masses are exactly ``mass``:
    spread uniformly over the keys of each block (the query's own prefix of its diagonal block
    when causal)."""
    nb = mass.shape[0]
    n = nb * block
    P = torch.zeros(n, n, dtype=torch.float64)
    for i in range(n):
        qb = i // block
        for kb in range(nb):
            lo = kb * block
            hi = min(lo + block, i + 1) if (causal and kb == qb) else lo + block
            P[i, lo:hi] = mass[qb, kb] / (hi - lo)
    return P[None]


def test_layout_from_a_known_map_causal():
    """Each query block: 0.6 on itself, 0.3 on block 0 (the 'attention sink'), 0.1 spread over the
    other earlier blocks. coverage 0.9 -> {diagonal, block 0}; budget 1 -> the diagonal only."""
    nb, block = 6, 4
    mass = torch.zeros(nb, nb, dtype=torch.float64)
    for q in range(nb):
        if q == 0:
            mass[0, 0] = 1.0
            continue
        mass[q, q], mass[q, 0] = 0.6, 0.3 + (0.1 if q == 1 else 0.0)
        rest = [k for k in range(1, q)]
        for k in rest:
            mass[q, k] = 0.1 / len(rest)
    P = _map_from_block_mass(mass, block, causal=True)
    assert torch.allclose(DL.block_mass(P, block)[0], mass)
    lay = DL.extract_layout(DL.block_mass(P, block), coverage=0.9, budget=4, causal=True)[0]
    expect = torch.eye(nb, dtype=torch.bool)
    expect[:, 0] = True
    assert torch.equal(lay, expect)
    lay1 = DL.extract_layout(DL.block_mass(P, block), coverage=0.9, budget=1, causal=True)[0]
    assert torch.equal(lay1, torch.eye(nb, dtype=torch.bool))
    full = DL.extract_layout(DL.block_mass(P, block), coverage=1.0, budget=None, causal=True)[0]
    assert torch.equal(full, torch.ones(nb, nb, dtype=torch.bool).tril())  # every block with mass
    # the mass the layout keeps, measured at token level
    assert abs(DL.coverage_of([P.float()], [lay[None]], block) - (2 + 0.9 * 4) / 6) < 1e-5


def test_layout_non_causal_ragged_and_heads():
    """Non-causal: a later block can win; a ragged last block (N % block != 0) is handled; heads
    get their own layouts; the diagonal is always kept even when it holds little mass."""
    n, block = 10, 4  # blocks of 4, 4, 2 tokens
    P = torch.zeros(2, n, n)
    P[0, :, 8:] = 0.25  # head 0: half of every row on the last (ragged) block
    P[0, :, :8] = 0.5 / 8
    P[1] = torch.eye(n)  # head 1: self only
    lay = DL.extract_layout(DL.block_mass(P, block), coverage=0.9, budget=2, causal=False)
    assert lay.shape == (2, 3, 3)
    # block 2 holds 0.5 and blocks 0, 1 hold 0.25 each: the budget stops at two; ties -> lower block
    assert torch.equal(lay[0], torch.tensor([[1, 0, 1], [0, 1, 1], [1, 0, 1]], dtype=torch.bool))
    assert torch.equal(lay[1], torch.eye(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="coverage"):
        DL.extract_layout(DL.block_mass(P, block), coverage=0.0)


def test_per_layer_layouts_survive_a_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = create_model("lm_tiny_bigbird", max_seq_len=64, pattern="learned",
                         pattern_params=dict(block=16, layout=torch.ones(4, 4).tril().bool().tolist()))
    lays = [torch.eye(4, dtype=torch.bool).expand(2, 4, 4).clone(), torch.ones(2, 4, 4).tril().bool()]
    lays[0][1, 3, 0] = True  # heads differ
    DL.apply_layouts(model, lays, 16, causal=True)
    assert [m.pattern.table().tolist() for m in DL.attention_modules(model)] == [x.tolist() for x in lays]
    D.save_student(model, tmp_path / "s.safetensors", lays, 16)
    back = D.load_student(tmp_path / "s.safetensors")
    assert [m.pattern for m in DL.attention_modules(back)] == [m.pattern for m in DL.attention_modules(model)]
    batch = model.dummy_inputs(2, seq_len=64)
    with torch.no_grad():
        assert torch.allclose(model(**batch)["logits"], back(**batch)["logits"], atol=1e-6)
    # a learned layout is causal-compatible and keeps the diagonal; pairs are counted per layer
    assert DL.layout_pairs(lays, 16, 64, causal=True) == 2 * (4 * (16 * 17 // 2)) + 1 * 16 * 16 + 2 * (64 * 65 // 2)


# --- recipes and the command ---------------------------------------------------------------------
@pytest.mark.parametrize("path", sorted((ROOT / "recipes/distill").glob("*.yaml")))
def test_distill_recipes_parse_and_models_build(path):
    r = D.load_recipe(path)
    assert path.read_text().startswith("#") and "Targets" in path.read_text()
    with torch.device("meta"):
        t = create_model(r.teacher.name, **r.teacher.overrides)
        s = create_model(r.student.name, **r.student.overrides)
    D._check_pair(t, s)
    assert t.config.pattern == "dense" and s.config.pattern != "dense"


def test_recipe_rejects_unknown_keys(tmp_path):
    raw = yaml.safe_load((ROOT / "recipes/distill/lm_tiny_bigbird.yaml").read_text())
    raw["loss"]["alpah"] = 1.0
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(RecipeError, match="alpha"):
        D.load_recipe(tmp_path / "r.yaml")
    with pytest.raises(RecipeError, match="budget"):
        D.load_recipe(ROOT / "recipes/distill/lm_tiny_bigbird.yaml", ["layout.budget=most"])


def test_zoo_distill_end_to_end(tmp_path, capsys):
    """Teacher trained for 2 steps, learned layout matched to BigBird's pairs, student distilled
    (logits + attention maps) for 3 steps, evaluated, saved and reloaded with its layouts."""
    text = tmp_path / "text.txt"
    text.write_bytes(("the quick brown fox jumps over the lazy dog. " * 120).encode())
    model = "{max_seq_len: 64, attn_backend: dense}"
    sets = ["teacher.overrides=" + model, "teacher.steps=2", "schedule.steps=3", "schedule.batch_size=2",
            "schedule.warmup_steps=1", "student.overrides={max_seq_len: 64, attn_backend: dense, "
            "pattern_params: {block: 8}}", f"data.source={text}", "data.seq_len=64", "layout.enabled=true",
            "layout.block=8", "layout.calibration_batches=1", "loss.attn_rows=16", "log_every=1", "threads=0"]
    argv = ["distill", str(ROOT / "recipes/distill/lm_tiny_bigbird.yaml"), "--out", str(tmp_path / "run")]
    argv += [a for s in sets for a in ("--set", s)]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "student: bits_per_char=" in out and "attn_kd=" in out
    m = json.loads((tmp_path / "run/metrics.json").read_text())
    s = m["student"]
    assert s["layout"]["budget"] >= 1 and s["pairs"] <= s["layout"]["matched_pairs"]
    assert s["patterns"] == ["learned"] and len(s["log"]) == 3 and m["teacher"]["density"] == 1.0
    back = D.load_student(tmp_path / "run/student.safetensors")
    assert all(p.name == "learned" for p in back.patterns)


def test_easyvqa_images_are_downsampled():
    pytest.importorskip("easy_vqa")
    imgs = D.easyvqa_images("test", 3, 16)
    assert imgs.shape == (3, 3, 16, 16) and imgs.dtype == torch.uint8
