"""Self-pretraining: the encoder's denoise head, and a model started from another run's export
with a fresh head (``model.reinit``)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from zoo.registry import create_model, save_checkpoint
from zoo.train.engine import build_model
from zoo.train.schema import load_recipe

ROOT = Path(__file__).resolve().parents[1]
NAME = "encoder_tiny_bigbird"


def test_corruption_follows_bert_and_spares_padding():
    m = create_model(NAME, head="denoise", denoise_prob=0.5)
    torch.manual_seed(0)
    ids = torch.randint(2, m.config.vocab_size, (64, 64))
    mask = torch.ones_like(ids, dtype=torch.bool)
    mask[:, 48:] = False
    ids = ids.masked_fill(~mask, 0)
    new, targets = m.corrupt(ids, mask)
    picked = targets != -100
    assert not picked[:, 48:].any() and torch.equal(new[:, 48:], ids[:, 48:])
    assert torch.equal(targets[picked], ids[picked]) and torch.equal(new[~picked], ids[~picked])
    share = picked[:, :48].float().mean().item()
    assert 0.45 < share < 0.55
    masked = (new[picked] == m.config.denoise_mask_id).float().mean().item()
    assert 0.75 < masked < 0.85 and (new[picked] >= 1).all()


def test_denoise_loss_counts_corrupted_tokens_only_and_trains():
    torch.manual_seed(0)
    m = create_model(NAME, head="denoise")
    batch = m.dummy_inputs(batch_size=4)
    assert "labels" not in batch
    out = m(**batch)
    assert out["logits"].shape == (4, m.config.max_seq_len, m.config.vocab_size)
    out["loss"].backward()
    assert m.head.weight.grad.abs().sum() > 0 and m.tok_embed.weight.grad.abs().sum() > 0
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    ids = torch.arange(2, 2 + m.config.max_seq_len).remainder(m.config.vocab_size - 2).add(2).repeat(8, 1)
    losses = []
    for _ in range(40):  # a fixed sequence: restoring it is learnable
        loss = m(input_ids=ids)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.6 * sum(losses[:5]) / 5


@pytest.mark.parametrize("bad,match", [(dict(denoise_prob=0.0), "denoise_prob must be in"),
                                       (dict(denoise_mask_id=99), r"denoise_mask_id must be in \[0, 17\)")])
def test_denoise_settings_are_checked(bad, match):
    with pytest.raises(ValueError, match=match):
        create_model(NAME, head="denoise", **bad)


def test_finetune_starts_from_the_pretrained_backbone_with_a_new_head(tmp_path):
    torch.manual_seed(0)
    pre = create_model(NAME, head="denoise")
    path = tmp_path / "model.safetensors"
    save_checkpoint(pre, path)
    fine = create_model(NAME, checkpoint=path, reinit=["head."], head="classification")
    assert fine.config.head == "classification" and fine.head.weight.shape == (10, fine.config.dim)
    own, before = fine.state_dict(), pre.state_dict()
    assert all(torch.equal(own[k], before[k]) for k in own if not k.startswith("head."))
    with pytest.raises(RuntimeError, match="size mismatch for head.weight"):
        create_model(NAME, checkpoint=path, head="classification")  # the head must be named
    with pytest.raises(ValueError, match="reinit: 'classifier.' names none of encoder_tiny_bigbird's weights"):
        create_model(NAME, checkpoint=path, reinit=["classifier."], head="classification")
    with pytest.raises(ValueError, match="there is no checkpoint"):
        create_model(NAME, reinit=["head."])


def test_recipes_pair_pretraining_and_finetuning(tmp_path):
    """The fine-tuning recipe reads the pretraining recipe's export with a new head; its dry run
    (tests/test_recipes.py) runs without it. Here: a tiny export at that path loads."""
    pre = load_recipe(ROOT / "recipes/listops_pretrain/encoder_small_bigbird.yaml")
    fine = load_recipe(ROOT / "recipes/listops_finetune/encoder_small_bigbird.yaml")
    assert pre.model.overrides["head"] == "denoise" and pre.checkpoint.export
    assert fine.model.checkpoint == f"runs/{pre.name}/model.safetensors" and fine.model.reinit == ["head."]
    tiny = dict(dim=32, depth=2, num_heads=4, max_seq_len=64)
    save_checkpoint(create_model(pre.model.name, **pre.model.overrides, **tiny), tmp_path / "model.safetensors")
    fine.model.checkpoint = str(tmp_path / "model.safetensors")
    fine.model.overrides.update(tiny)
    model = build_model(fine)
    assert model.config.head == "classification" and model.config.max_seq_len == 64
