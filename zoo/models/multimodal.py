"""Image-text models over one sparse sequence.

``Captioner``: image patches (timm PatchEmbed) followed by caption tokens (open_clip's
tokenizer) in one prefix-LM sequence — the image part bidirectional, the caption causal
(the prefix-LM of Raffel et al. 2020, T5, and SimVLM, Wang et al. 2022). Image tokens attend
locally in 2-D (a band of one patch row, or BigBird blocks of one patch row), caption tokens see
the whole image. Optional question tokens join the prefix (generative VQA) and an optional
CLIP-style contrastive head (Radford et al. 2021) uses open_clip's ``ClipLoss``.

``VQAClassifier``: [CLS] + question tokens + image patches; the question tokens are global
(Longformer's treatment of questions, Beltagy et al. 2020, §6) and the CLS feature goes to an
answer classifier (easy-VQA's 13 answers, VQA v2's top answers).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..attention import build
from ..attention.patterns import Pattern
from ..layers import ImageTokens, LearnedPosEmbed, Transformer, TransformerConfig
from .base import ZooModel, make_config, mean_nll, preset
from .generation import beam_search, decode

VOCAB, SOT, EOT, PAD = 49408, 49406, 49407, 0  # open_clip SimpleTokenizer (zoo.data.tokenizer)


@dataclass
class CaptionerConfig(TransformerConfig):
    image_size: int = 64
    patch_size: int = 8
    stem: str = "patch"  # image stem: "patch" (ViT's linear patches) or "conv" (zoo.layers.image_tokens)
    vocab_size: int = VOCAB
    max_caption_len: int = 32  # caption tokens including <sot> and <eot> (the pipeline's seq_len)
    max_question_len: int = 0  # > 0: question tokens join the prefix (generative VQA)
    caption_global: bool = True  # caption tokens see the whole prefix whatever the base pattern
    tie_embeddings: bool = True
    contrastive: bool = False
    contrastive_weight: float = 1.0


class Captioner(ZooModel):
    family, modality = "captioner", "image-text"

    def __init__(self, cfg: CaptionerConfig):
        super().__init__(cfg)
        self.image_tokens = ImageTokens(cfg.image_size, cfg.patch_size, cfg.dim, cfg.stem)
        self.prefix_len = self.image_tokens.num_tokens + cfg.max_question_len
        self.tok_embed = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.caption_pos_embed = LearnedPosEmbed(cfg.max_caption_len, cfg.dim)
        self.question_pos_embed = LearnedPosEmbed(cfg.max_question_len, cfg.dim) if cfg.max_question_len else None
        self.drop = nn.Dropout(cfg.dropout)
        n = self.max_seq_len
        self.backbone = Transformer(cfg, [self._prefix_pattern(p) for p in self._layer_patterns(False, n)], max_len=n)
        self.head = nn.Linear(cfg.dim, cfg.vocab_size, bias=False)
        if cfg.contrastive:
            if cfg.max_caption_len > self.prefix_len:
                raise ValueError("the contrastive text pass runs captions inside the prefix: "
                                 f"max_caption_len ({cfg.max_caption_len}) must be <= {self.prefix_len}")
            self.image_proj = nn.Linear(cfg.dim, cfg.dim, bias=False)
            self.text_proj = nn.Linear(cfg.dim, cfg.dim, bias=False)
            self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.init_weights()
        if cfg.tie_embeddings:
            self.head.weight = self.tok_embed.weight

    @property
    def max_seq_len(self) -> int:
        return self.prefix_len + self.config.max_caption_len

    def _prefix_pattern(self, base: Pattern) -> Pattern:
        """prefix_lm over ``base``; with caption_global, caption rows see every earlier token.

        The caption rows are a block layout (``learned`` pattern used as a fixed layout) whose
        block divides the prefix, so it adds exactly the rows after the prefix."""
        if self.config.caption_global and base.name != "dense":
            block = math.gcd(self.prefix_len, self.image_tokens.grid)
            n_blocks = -(-self.max_seq_len // block)
            first = self.prefix_len // block
            rows = [[[qb >= first] * n_blocks for qb in range(n_blocks)]]  # (1, nB, nB)
            with torch.device("cpu"):  # the layout is data, even when the model is built on meta
                base = build("union", patterns=[base, build("learned", layout=rows, block=block)])
        return build("prefix_lm", causal=True, prefix_len=self.prefix_len, base=base)

    # --- pieces ---------------------------------------------------------------------------------
    def encode_prefix(self, image: Tensor, question_ids: Tensor | None = None) -> Tensor:
        """Image tokens (+ question tokens) -> (B, prefix_len, C)."""
        x = self.image_tokens(image)  # (B, P, C)
        lq = self.config.max_question_len
        if lq:
            if question_ids is None or question_ids.shape[1] > lq:
                raise ValueError(f"this captioner takes question_ids of up to {lq} tokens")
            q = F.pad(question_ids, (0, lq - question_ids.shape[1]), value=PAD)  # fixed length: the prefix is static
            x = torch.cat([x, self.tok_embed(q) + self.question_pos_embed(lq)], dim=1)
        return x

    def embed_caption(self, ids: Tensor, start: int = 0) -> Tensor:
        return self.tok_embed(ids) + self.caption_pos_embed(ids.shape[1], start)  # (B, L, C)

    def _step_fn(self, prefix: Tensor):
        def step(tokens: Tensor, caches, start: int) -> Tensor:
            x = self.embed_caption(tokens, start)
            if start == 0:  # first call (or no cache): the whole prefix goes in too
                reps = x.shape[0] // prefix.shape[0]  # beams are contiguous per example
                x = torch.cat([prefix.repeat_interleave(reps, 0) if reps > 1 else prefix, x], dim=1)
            h = self.backbone(x, caches=caches)
            return self.head(h[:, -tokens.shape[1]:])
        return step

    # --- API ------------------------------------------------------------------------------------
    def forward(self, image: Tensor, caption_ids: Tensor, caption_mask: Tensor | None = None,
                question_ids: Tensor | None = None, **kwargs) -> dict[str, Tensor]:
        P = self.prefix_len
        prefix = self.encode_prefix(image, question_ids)
        target = caption_ids[:, 1:]
        if caption_mask is not None:
            target = target.masked_fill(~caption_mask[:, 1:].bool(), -100)
        x = torch.cat([prefix, self.embed_caption(caption_ids[:, :-1])], dim=1)  # (B, P + L - 1, C)
        h = self.backbone(self.drop(x))
        logits = self.head(h[:, P:])  # (B, L - 1, V): logits[:, t] predicts caption token t + 1
        out = {"logits": logits, "loss": mean_nll(logits, target)}
        if self.config.contrastive:
            out["contrastive_loss"] = self._contrastive(h[:, :self.image_tokens.num_tokens], caption_ids, caption_mask)
            out["caption_loss"] = out["loss"]
            out["loss"] = out["loss"] + self.config.contrastive_weight * out["contrastive_loss"]
        return out

    def _contrastive(self, image_h: Tensor, caption_ids: Tensor, caption_mask: Tensor | None) -> Tensor:
        """CLIP loss between pooled image tokens and a text-only pass of the caption. The text
        pass runs the caption at positions inside the prefix, where the pattern is bidirectional,
        so it never sees the image; the feature is taken at <eot>."""
        from open_clip.loss import ClipLoss
        mask = torch.ones_like(caption_ids, dtype=torch.bool) if caption_mask is None else caption_mask.bool()
        t = self.backbone(self.drop(self.embed_caption(caption_ids)), key_padding_mask=mask)  # (B, L, C)
        last = mask.long().cumsum(1).argmax(1)  # index of the last real token (<eot>)
        text = t[torch.arange(t.shape[0], device=t.device), last]
        img = F.normalize(self.image_proj(image_h.mean(1)), dim=-1)
        txt = F.normalize(self.text_proj(text), dim=-1)
        return ClipLoss()(img, txt, self.logit_scale.exp().clamp(max=100))

    @torch.no_grad()
    def generate(self, batch: dict[str, Tensor], max_new_tokens: int | None = None, use_cache: bool = True,
                 temperature: float = 0.0, top_k: int | None = None, num_beams: int = 1,
                 length_penalty: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        """Captions for batch["image"] (+ "question_ids"): token ids (B, T) after <sot>, ending
        with <eot> and padded with 0. num_beams > 1 runs beam search (greedy per beam)."""
        limit = self.config.max_caption_len - 1
        max_new_tokens = limit if max_new_tokens is None else min(max_new_tokens, limit)
        prefix = self.encode_prefix(batch["image"].to(self._device()), batch.get("question_ids"))
        prompt = torch.full((prefix.shape[0], 1), SOT, dtype=torch.long, device=prefix.device)
        step = self._step_fn(prefix)
        if num_beams > 1:
            return beam_search(step, prompt, max_new_tokens, new_caches=self.backbone.new_caches, num_beams=num_beams,
                               eos_id=EOT, pad_id=PAD, use_cache=use_cache, length_penalty=length_penalty)
        return decode(step, prompt, max_new_tokens, new_caches=self.backbone.new_caches, use_cache=use_cache,
                      temperature=temperature, top_k=top_k, eos_id=EOT, pad_id=PAD, generator=generator)

    @staticmethod
    def decode_text(ids: Tensor) -> list[str]:
        """Token ids (B, T) from generate -> strings (cut at <eot>)."""
        from ..data.tokenizer import decode as decode_ids
        out = []
        for row in ids.tolist():
            row = row[:row.index(EOT)] if EOT in row else row
            out.append(decode_ids([t for t in row if t not in (SOT, EOT)]).strip())
        return out

    def dummy_inputs(self, batch_size: int = 2, seed: int = 0) -> dict[str, Tensor]:
        c = self.config
        g = torch.Generator().manual_seed(seed)
        L = c.max_caption_len
        ids = torch.randint(1, SOT, (batch_size, L), generator=g)
        lengths = torch.tensor([L - (i % 3) * (L // 4) for i in range(batch_size)])
        mask = torch.arange(L)[None, :] < lengths[:, None]
        ids[:, 0] = SOT
        ids[torch.arange(batch_size), lengths - 1] = EOT
        ids = ids.masked_fill(~mask, PAD)
        batch = {"image": torch.rand(batch_size, 3, c.image_size, c.image_size, generator=g),
                 "caption_ids": ids, "caption_mask": mask}
        if c.max_question_len:
            batch["question_ids"] = torch.randint(1, SOT, (batch_size, c.max_question_len), generator=g)
        return {k: v.to(self._device()) for k, v in batch.items()}


# ------------------------------------------------------------------------------------------------
@dataclass
class VQAConfig(TransformerConfig):
    image_size: int = 64
    patch_size: int = 8
    stem: str = "patch"  # image stem: "patch" (ViT's linear patches) or "conv" (zoo.layers.image_tokens)
    vocab_size: int = VOCAB
    max_question_len: int = 32  # the pipeline's seq_len for vqa
    n_answers: int = 13  # easy-VQA; VQA v2 uses its top answers (3,129)


class VQAClassifier(ZooModel):
    """[CLS] + question (Lq) + image patches -> answer logits (B, n_answers) from the CLS token."""

    family, modality = "vqa", "image-text"

    def __init__(self, cfg: VQAConfig):
        super().__init__(cfg)
        self.image_tokens = ImageTokens(cfg.image_size, cfg.patch_size, cfg.dim, cfg.stem)
        self.tok_embed = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        self.question_pos_embed = LearnedPosEmbed(cfg.max_question_len + 1, cfg.dim)
        self.drop = nn.Dropout(cfg.dropout)
        n = self.max_seq_len
        self.pattern_params = dict(cfg.pattern_params)
        if cfg.pattern == "longformer":  # static fallback: CLS + every question slot is global
            self.pattern_params.setdefault("global_tokens", cfg.max_question_len + 1)
        self.backbone = Transformer(cfg, self._layer_patterns(False, n, self.pattern_params), max_len=n)
        self.head = nn.Linear(cfg.dim, cfg.n_answers)
        self.init_weights()
        nn.init.normal_(self.cls_token, std=0.02)

    @property
    def max_seq_len(self) -> int:
        return 1 + self.config.max_question_len + self.image_tokens.num_tokens

    def forward(self, image: Tensor, question_ids: Tensor, question_mask: Tensor | None = None,
                labels: Tensor | None = None, **kwargs) -> dict[str, Tensor]:
        B, lq_in = question_ids.shape
        lq = self.config.max_question_len
        if lq_in > lq:
            raise ValueError(f"question_ids has {lq_in} tokens; this model takes up to {lq}")
        q_mask = torch.ones_like(question_ids, dtype=torch.bool) if question_mask is None else question_mask.bool()
        ids, q_mask = F.pad(question_ids, (0, lq - lq_in), value=PAD), F.pad(q_mask, (0, lq - lq_in), value=False)
        q = torch.cat([self.cls_token.expand(B, -1, -1), self.tok_embed(ids)], dim=1) + self.question_pos_embed(lq + 1)
        img = self.image_tokens(image)  # (B, P, C)
        x = torch.cat([q, img], dim=1)  # (B, 1 + Lq + P, C)
        one = torch.ones(B, 1, dtype=torch.bool, device=x.device)
        img_real = torch.ones(B, img.shape[1], dtype=torch.bool, device=x.device)
        kpm = torch.cat([one, q_mask, img_real], dim=1)
        glob = torch.cat([one, q_mask, ~img_real], dim=1)  # CLS and real question tokens are global
        h = self.backbone(self.drop(x), key_padding_mask=kpm, global_mask=glob)
        logits = self.head(h[:, 0])  # (B, n_answers)
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = mean_nll(logits, labels)
        return out

    def dummy_inputs(self, batch_size: int = 2, seed: int = 0) -> dict[str, Tensor]:
        c = self.config
        g = torch.Generator().manual_seed(seed)
        lq = c.max_question_len
        mask = torch.arange(lq)[None, :] < torch.tensor([lq - (i % 2) * (lq // 2) for i in range(batch_size)])[:, None]
        ids = torch.randint(1, SOT, (batch_size, lq), generator=g).masked_fill(~mask, PAD)
        batch = {"image": torch.rand(batch_size, 3, c.image_size, c.image_size, generator=g),
                 "question_ids": ids, "question_mask": mask,
                 "labels": torch.randint(0, c.n_answers, (batch_size,), generator=g)}
        return {k: v.to(self._device()) for k, v in batch.items()}


# ------------------------------------------------------------------------------------------------
_GEOMETRY = {  # image size, patch size
    None: (16, 4), "easyvqa": (64, 8), "coco": (224, 16), "vqav2": (224, 16)}


def _captioner(size: str, variant: str, dataset: str | None, **overrides) -> Captioner:
    image, patch = _GEOMETRY[dataset]
    grid = image // patch
    if variant == "sliding":  # +-1 patch row around each image token: a 3-row 2-D neighbourhood
        pat = dict(pattern="sliding_window", pattern_params=dict(left=grid, right=grid))
    elif variant == "bigbird":  # blocks of one patch row
        pat = dict(pattern="bigbird", pattern_params=dict(block=grid, window_blocks=3, global_blocks=1,
                                                          random_blocks=1))
    elif variant == "dense":
        pat = dict(pattern="dense")
    else:
        raise ValueError(variant)
    defaults = preset(size, image_size=image, patch_size=patch, max_caption_len=8 if size == "tiny" else 32, **pat)
    return Captioner(make_config(CaptionerConfig, defaults, overrides))


def _vqa(size: str, variant: str, dataset: str | None, **overrides) -> VQAClassifier:
    image, patch = _GEOMETRY[dataset]
    lq = 8 if size == "tiny" else 32
    block = 8 if size == "tiny" else 16
    if variant == "longformer":
        pat = dict(pattern="longformer", pattern_params=dict(window=2 * image // patch))
    elif variant == "bigbird":  # the leading blocks (CLS + question) are BigBird's global blocks
        pat = dict(pattern="bigbird", pattern_params=dict(block=block, window_blocks=3, random_blocks=1 if size == "tiny"
                                                          else 2, global_blocks=-(-(lq + 1) // block)))
    elif variant == "dense":
        pat = dict(pattern="dense")
    else:
        raise ValueError(variant)
    answers = 3129 if dataset == "vqav2" else 13
    defaults = preset(size, image_size=image, patch_size=patch, max_question_len=lq, n_answers=answers, **pat)
    return VQAClassifier(make_config(VQAConfig, defaults, overrides))


from ..registry import register_model  # noqa: E402


@register_model("captioner_tiny_sliding")
def captioner_tiny_sliding(**kw): return _captioner("tiny", "sliding", None, **kw)
@register_model("captioner_tiny_bigbird")
def captioner_tiny_bigbird(**kw): return _captioner("tiny", "bigbird", None, **kw)
@register_model("captioner_tiny_dense")
def captioner_tiny_dense(**kw): return _captioner("tiny", "dense", None, **kw)
@register_model("captioner_small_sliding.easyvqa")
def captioner_small_sliding_easyvqa(**kw): return _captioner("small", "sliding", "easyvqa", **kw)
@register_model("captioner_small_bigbird.easyvqa")
def captioner_small_bigbird_easyvqa(**kw): return _captioner("small", "bigbird", "easyvqa", **kw)
@register_model("captioner_small_dense.easyvqa")
def captioner_small_dense_easyvqa(**kw): return _captioner("small", "dense", "easyvqa", **kw)
@register_model("captioner_base_bigbird.coco")
def captioner_base_bigbird_coco(**kw): return _captioner("base", "bigbird", "coco", **kw)
@register_model("captioner_base_sliding.coco")
def captioner_base_sliding_coco(**kw): return _captioner("base", "sliding", "coco", **kw)


@register_model("vqa_tiny_longformer")
def vqa_tiny_longformer(**kw): return _vqa("tiny", "longformer", None, **kw)
@register_model("vqa_tiny_bigbird")
def vqa_tiny_bigbird(**kw): return _vqa("tiny", "bigbird", None, **kw)
@register_model("vqa_tiny_dense")
def vqa_tiny_dense(**kw): return _vqa("tiny", "dense", None, **kw)
@register_model("vqa_small_longformer.easyvqa")
def vqa_small_longformer_easyvqa(**kw): return _vqa("small", "longformer", "easyvqa", **kw)
@register_model("vqa_small_bigbird.easyvqa")
def vqa_small_bigbird_easyvqa(**kw): return _vqa("small", "bigbird", "easyvqa", **kw)
@register_model("vqa_small_dense.easyvqa")
def vqa_small_dense_easyvqa(**kw): return _vqa("small", "dense", "easyvqa", **kw)
@register_model("vqa_base_longformer.vqav2")
def vqa_base_longformer_vqav2(**kw): return _vqa("base", "longformer", "vqav2", **kw)
@register_model("vqa_base_bigbird.vqav2")
def vqa_base_bigbird_vqav2(**kw): return _vqa("base", "bigbird", "vqav2", **kw)
