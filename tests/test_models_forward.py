"""Every tiny model: created, forward + backward on CPU, every parameter gets a finite gradient."""
import math

import pytest
import torch

import zoo

TINY = zoo.list_models(size="tiny")



def test_tiny_models_cover_every_family():
    assert {zoo.model_info(n)["family"] for n in TINY} == {"lm", "encoder", "pixel", "captioner", "vqa"}


@pytest.mark.parametrize("name", TINY)
def test_forward_backward(name):
    torch.manual_seed(0)
    model = zoo.create_model(name)
    batch = model.dummy_inputs(batch_size=2)
    out = model(**batch)
    assert "logits" in out and "loss" in out
    assert out["loss"].dim() == 0 and torch.isfinite(out["loss"])
    out["loss"].backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"no gradient for {missing}"
    bad = [n for n, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not bad, f"non-finite gradient for {bad}"


@pytest.mark.parametrize("name", TINY)
def test_extra_batch_keys_tolerated(name):
    model = zoo.create_model(name).eval()
    batch = {**model.dummy_inputs(batch_size=1), "__key__": ["x"], "unused": torch.zeros(1)}
    with torch.no_grad():
        assert torch.isfinite(model(**batch)["logits"]).all()


def test_pixel_loss_is_bits_per_dim():
    model = zoo.create_model("pixel_tiny_strided")
    out = model(**model.dummy_inputs(2))
    assert out["logits"].shape == (2, 3 * 8 * 8, 256)
    assert out["bpd"].item() == pytest.approx(out["loss"].item() / math.log(2))
    # an untrained model is near uniform: ~8 bits per sub-pixel
    assert 7.0 < out["bpd"].item() < 9.0


def test_lm_bpc_and_ignore_index():
    model = zoo.create_model("lm_tiny_dense")
    batch = model.dummy_inputs(2)
    batch["labels"][:, 64:] = -100
    out = model(**batch)
    assert out["bpc"].item() == pytest.approx(out["loss"].item() / math.log(2))
    ref = torch.nn.functional.cross_entropy(out["logits"][:, :64].flatten(0, 1), batch["labels"][:, :64].flatten())
    assert out["loss"].item() == pytest.approx(ref.item(), rel=1e-5)


def test_all_ignored_labels_give_zero_loss_not_nan():
    model = zoo.create_model("vqa_tiny_dense")
    batch = model.dummy_inputs(2)
    batch["labels"][:] = -100  # VQA v2 answers outside the vocabulary
    out = model(**batch)
    assert out["loss"].item() == 0.0
    out["loss"].backward()


@pytest.mark.parametrize("head", ["token", "qa"])
def test_encoder_heads(head):
    model = zoo.create_model("encoder_tiny_longformer", head=head, num_labels=5)
    batch = model.dummy_inputs(2)
    out = model(**batch)
    n = batch["input_ids"].shape[1]
    assert out["logits"].shape == ((2, n, 5) if head == "token" else (2, n, 2))
    if head == "qa":
        assert out["start_logits"].shape == (2, n)
        # padding is never an answer boundary
        pad = ~batch["attention_mask"]
        assert (out["start_logits"][pad] < -1e30).all()
    out["loss"].backward()
    assert torch.isfinite(out["loss"])


def test_encoder_question_tokens_are_global():
    """With a Longformer pattern, tokens marked in global_mask reach (and are reached from) the
    whole sequence: changing the last token changes a far global token's output."""
    model = zoo.create_model("encoder_tiny_longformer", depth=1, head="token", num_labels=3).eval()
    ids = torch.randint(2, 17, (1, 64))
    glob = torch.zeros(1, 64, dtype=torch.bool)
    glob[0, 1] = True
    ids2 = ids.clone()
    ids2[0, -1] = (ids[0, -1] + 1 - 2) % 15 + 2
    with torch.no_grad():
        a = model(input_ids=ids, global_mask=glob)["logits"]
        b = model(input_ids=ids2, global_mask=glob)["logits"]
        a0 = model(input_ids=ids)["logits"]
        b0 = model(input_ids=ids2)["logits"]
    assert not torch.allclose(a[0, 1], b[0, 1])  # global token sees the far end
    assert torch.allclose(a0[0, 1], b0[0, 1])  # a local token does not (window 16)


def test_vqa_logits_over_answers():
    model = zoo.create_model("vqa_tiny_longformer", n_answers=7)
    out = model(**model.dummy_inputs(3))
    assert out["logits"].shape == (3, 7)


def test_captioner_contrastive_head():
    model = zoo.create_model("captioner_tiny_sliding", contrastive=True)
    out = model(**model.dummy_inputs(3))
    assert {"contrastive_loss", "caption_loss"} <= set(out)
    out["loss"].backward()
    assert model.logit_scale.grad is not None and model.text_proj.weight.grad is not None


def test_captioner_question_prefix():
    model = zoo.create_model("captioner_tiny_bigbird", max_question_len=4)
    batch = model.dummy_inputs(2)
    assert batch["question_ids"].shape == (2, 4)
    model(**batch)["loss"].backward()
    ids = model.generate(batch, max_new_tokens=3)
    assert ids.shape[0] == 2


def test_shared_qk_is_a_model_option():
    """LSH layers share Q and K by default (Reformer); ``shared_qk=False`` gives them their own K
    (equal parameters to other patterns), ``True`` shares it in any pattern."""
    import zoo
    x = torch.randint(0, 256, (1, 64))
    for shared, width in ((None, 2), (False, 3)):
        m = zoo.create_model("lm_tiny_lsh", max_seq_len=64, **({} if shared is None else {"shared_qk": shared}))
        lsh = [b.attn for b in m.backbone.blocks if b.attn.pattern.name == "lsh"]
        assert lsh and all(a.qkv.out_features == width * m.config.dim for a in lsh)
        assert torch.isfinite(m(input_ids=x)["logits"]).all()
    m = zoo.create_model("lm_tiny_dense", max_seq_len=64, shared_qk=True)
    assert all(b.attn.shared_qk for b in m.backbone.blocks)
