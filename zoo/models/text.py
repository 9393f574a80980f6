"""Text backbones: a causal byte-level language model (``lm_*``) and a bidirectional encoder
with global tokens (``encoder_*``).

Patterns follow the papers: Longformer's growing windows with dilated top layers for character
LMs and window + global CLS/question tokens for encoders (Beltagy et al. 2020, "Longformer: The
Long-Document Transformer"); Reformer's LSH layers mixed with local ones (Kitaev et al. 2020);
Sparse Transformer strided / fixed (Child et al. 2019); BigBird (Zaheer et al. 2020, "Big Bird:
Transformers for Longer Sequences"); the anchor routing of this project's seed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..layers import LearnedPosEmbed, RotaryEmbedding, Transformer, TransformerConfig
from .base import ZooModel, make_config, mean_nll, preset
from .generation import decode

LISTOPS_VOCAB = 17  # zoo.data.listops.VOCAB: <pad> <cls> [MIN [MAX [MED [SM ] 0-9 (pad id 0)
CLIP_VOCAB = 49408  # open_clip's SimpleTokenizer (zoo.data.tokenizer)


def _positions(kind: str, max_len: int, cfg: TransformerConfig) -> tuple[LearnedPosEmbed | None, RotaryEmbedding | None]:
    if kind == "learned":
        return LearnedPosEmbed(max_len, cfg.dim), None
    if kind == "rotary":
        return None, RotaryEmbedding(cfg.dim // cfg.num_heads, max_len)
    raise ValueError(f"pos must be 'learned' or 'rotary', got {kind!r}")


# ------------------------------------------------------------------------------------------------
@dataclass
class LMConfig(TransformerConfig):
    vocab_size: int = 256
    max_seq_len: int = 2048
    pos: str = "rotary"
    tie_embeddings: bool = True


class ByteLM(ZooModel):
    """Causal LM over bytes: logits (B, N, 256) where logits[:, t] predicts labels[:, t]."""

    family, modality = "lm", "text"

    def __init__(self, cfg: LMConfig):
        super().__init__(cfg)
        self.tok_embed = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.pos_embed, rotary = _positions(cfg.pos, cfg.max_seq_len, cfg)
        self.drop = nn.Dropout(cfg.dropout)
        self.backbone = Transformer(cfg, self._layer_patterns(True, cfg.max_seq_len), max_len=cfg.max_seq_len,
                                    rotary=rotary)
        self.head = nn.Linear(cfg.dim, cfg.vocab_size, bias=False)
        self.init_weights()
        if cfg.tie_embeddings:
            self.head.weight = self.tok_embed.weight

    @property
    def max_seq_len(self) -> int:
        return self.config.max_seq_len

    def forward_tokens(self, ids: Tensor, caches=None, start: int = 0) -> Tensor:
        """ids (B, N) at positions start..start+N-1 -> logits (B, N, V)."""
        x = self.tok_embed(ids)  # (B, N, C)
        if self.pos_embed is not None:
            x = x + self.pos_embed(ids.shape[1], start)
        x = self.backbone(self.drop(x), caches=caches)
        return self.head(x)

    def forward(self, input_ids: Tensor, labels: Tensor | None = None, **kwargs) -> dict[str, Tensor]:
        logits = self.forward_tokens(input_ids)
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = mean_nll(logits, labels)
            out["bpc"] = out["loss"].detach() / math.log(2)
        return out

    @torch.no_grad()
    def generate(self, batch: dict[str, Tensor], max_new_tokens: int, use_cache: bool = True,
                 temperature: float = 0.0, top_k: int | None = None,
                 generator: torch.Generator | None = None) -> Tensor:
        """Continue batch["input_ids"] (B, N0); returns the new bytes (B, max_new_tokens)."""
        prompt = batch["input_ids"]
        if prompt.shape[1] + max_new_tokens > self.max_seq_len:
            raise ValueError(f"prompt ({prompt.shape[1]}) + max_new_tokens ({max_new_tokens}) exceeds "
                             f"max_seq_len={self.max_seq_len}")
        return decode(self.forward_tokens, prompt, max_new_tokens, new_caches=self.backbone.new_caches,
                      use_cache=use_cache, temperature=temperature, top_k=top_k, generator=generator)

    def dummy_inputs(self, batch_size: int = 2, seed: int = 0, seq_len: int | None = None) -> dict[str, Tensor]:
        g = torch.Generator().manual_seed(seed)
        n = self.max_seq_len if seq_len is None else seq_len
        data = torch.randint(0, self.config.vocab_size, (batch_size, n + 1), generator=g)
        dev = self._device()
        return {"input_ids": data[:, :-1].clone().to(dev), "labels": data[:, 1:].clone().to(dev)}


# ------------------------------------------------------------------------------------------------
@dataclass
class EncoderConfig(TransformerConfig):
    vocab_size: int = LISTOPS_VOCAB
    max_seq_len: int = 2000  # input tokens; the model prepends its own CLS
    pos: str = "learned"
    head: str = "classification"  # classification | token | qa | denoise (self-pretraining)
    num_labels: int = 10
    pool: str = "cls"  # cls | mean (data-dependent patterns give CLS no special reach)
    denoise_prob: float = 0.15  # head="denoise": share of real tokens corrupted and predicted
    denoise_mask_id: int = 1  # the id a corrupted token becomes (80%; ListOps' unused <cls>)


class Encoder(ZooModel):
    """Bidirectional encoder. A learned CLS is prepended and is always global; batch
    ``global_mask`` marks more global tokens (question tokens for QA) for Longformer patterns.
    Heads: sequence classification (B, num_labels), token classification (B, N, num_labels),
    extractive QA (start/end logits, B x N x 2), and "denoise": BERT-style corruption of the input
    predicted back (B, N, vocab), to pretrain on a task's own inputs before fine-tuning
    (self-pretraining, Amos et al. 2024; the fine-tuning recipe starts from its weights with a
    new head: ``model.reinit``)."""

    family, modality = "encoder", "text"
    HEADS = ("classification", "token", "qa", "denoise")

    def __init__(self, cfg: EncoderConfig):
        super().__init__(cfg)
        if cfg.head not in self.HEADS:
            raise ValueError(f"head must be one of {self.HEADS}, got {cfg.head!r}")
        if cfg.pool not in ("cls", "mean"):
            raise ValueError(f"pool must be 'cls' or 'mean', got {cfg.pool!r}")
        if not 0.0 < cfg.denoise_prob < 1.0:
            raise ValueError(f"denoise_prob must be in (0, 1), got {cfg.denoise_prob}")
        if not 0 <= cfg.denoise_mask_id < cfg.vocab_size:
            raise ValueError(f"denoise_mask_id must be in [0, {cfg.vocab_size}), got {cfg.denoise_mask_id}")
        n = cfg.max_seq_len + 1
        self.tok_embed = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        self.pos_embed, rotary = _positions(cfg.pos, n, cfg)
        self.drop = nn.Dropout(cfg.dropout)
        self.backbone = Transformer(cfg, self._layer_patterns(False, n), max_len=n, rotary=rotary)
        self.head = nn.Linear(cfg.dim, {"qa": 2, "denoise": cfg.vocab_size}.get(cfg.head, cfg.num_labels))
        self.init_weights()
        nn.init.normal_(self.cls_token, std=0.02)

    @property
    def max_seq_len(self) -> int:
        return self.config.max_seq_len  # input tokens; the backbone runs one more (CLS)

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None, global_mask: Tensor | None = None,
                labels: Tensor | None = None, start_positions: Tensor | None = None,
                end_positions: Tensor | None = None, **kwargs) -> dict[str, Tensor]:
        B, N = input_ids.shape
        cfg = self.config
        if cfg.head == "denoise":
            input_ids, targets = self.corrupt(input_ids, attention_mask)
        x = torch.cat([self.cls_token.expand(B, -1, -1), self.tok_embed(input_ids)], dim=1)  # (B, 1+N, C)
        if self.pos_embed is not None:
            x = x + self.pos_embed(N + 1)
        one = torch.ones(B, 1, dtype=torch.bool, device=x.device)
        kpm = None if attention_mask is None else torch.cat([one, attention_mask.bool()], dim=1)
        gm = None if global_mask is None else torch.cat([one, global_mask.bool()], dim=1)
        h = self.backbone(self.drop(x), key_padding_mask=kpm, global_mask=gm)  # (B, 1+N, C)
        tokens = h[:, 1:]
        if cfg.head == "classification":
            if cfg.pool == "cls":
                pooled = h[:, 0]
            else:
                w = torch.ones_like(tokens[..., 0]) if attention_mask is None else attention_mask.to(h.dtype)
                pooled = (tokens * w[..., None]).sum(1) / w.sum(1, keepdim=True).clamp(min=1)
            logits = self.head(pooled)  # (B, num_labels)
            out = {"logits": logits}
            if labels is not None:
                out["loss"] = mean_nll(logits, labels)
            return out
        logits = self.head(tokens)  # (B, N, num_labels | 2 | vocab)
        if cfg.head == "denoise":
            return {"logits": logits, "loss": mean_nll(logits, targets)}
        if cfg.head == "token":
            out = {"logits": logits}
            if labels is not None:
                out["loss"] = mean_nll(logits, labels)
            return out
        if attention_mask is not None:  # padding can never be an answer boundary
            logits = logits.masked_fill(~attention_mask.bool()[..., None], torch.finfo(logits.dtype).min)
        out = {"logits": logits, "start_logits": logits[..., 0], "end_logits": logits[..., 1]}
        if start_positions is not None and end_positions is not None:
            def nll(lg, pos):  # positions outside the sequence (truncated answers) are ignored
                pos = torch.where((pos >= 0) & (pos < N), pos, -100)
                return mean_nll(lg, pos)
            out["loss"] = (nll(out["start_logits"], start_positions) + nll(out["end_logits"], end_positions)) / 2
        return out

    def corrupt(self, ids: Tensor, attention_mask: Tensor | None) -> tuple[Tensor, Tensor]:
        """BERT's corruption of real tokens: each picked with ``denoise_prob``, then 80% become
        ``denoise_mask_id``, 10% a random id (>= 2: not padding), 10% stay. ids (B, N) ->
        (corrupted ids, targets: the original id where picked, -100 elsewhere)."""
        cfg = self.config
        real = torch.ones_like(ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
        pick = (torch.rand(ids.shape, device=ids.device) < cfg.denoise_prob) & real
        how = torch.rand(ids.shape, device=ids.device)
        out = ids.masked_fill(pick & (how < 0.8), cfg.denoise_mask_id)
        swap = pick & (how >= 0.8) & (how < 0.9)
        out = torch.where(swap, torch.randint(2, cfg.vocab_size, ids.shape, device=ids.device), out)
        return out, ids.masked_fill(~pick, -100)

    def dummy_inputs(self, batch_size: int = 2, seed: int = 0, seq_len: int | None = None) -> dict[str, Tensor]:
        g = torch.Generator().manual_seed(seed)
        cfg, dev = self.config, self._device()
        n = cfg.max_seq_len if seq_len is None else seq_len
        ids = torch.randint(1, cfg.vocab_size, (batch_size, n), generator=g)
        mask = torch.ones(batch_size, n, dtype=torch.bool)
        mask[1:, n - n // 4:] = False  # some padding
        ids = ids.masked_fill(~mask, 0)
        glob = torch.zeros(batch_size, n, dtype=torch.bool)
        glob[:, : max(1, n // 16)] = True  # e.g. question tokens
        batch = {"input_ids": ids, "attention_mask": mask, "global_mask": glob}
        if cfg.head == "classification":
            batch["labels"] = torch.randint(0, cfg.num_labels, (batch_size,), generator=g)
        elif cfg.head == "token":
            batch["labels"] = torch.randint(0, cfg.num_labels, (batch_size, n), generator=g).masked_fill(~mask, -100)
        elif cfg.head == "qa":
            batch["start_positions"] = torch.randint(0, n // 2, (batch_size,), generator=g)
            batch["end_positions"] = batch["start_positions"] + 2
        return {k: v.to(dev) for k, v in batch.items()}


# ------------------------------------------------------------------------------------------------
# Builders. One unit ``w`` per size sets windows, blocks and buckets; the rest follows the papers.
_UNIT = {"tiny": 8, "small": 64, "base": 128, "large": 256}
_LM_LEN = {"tiny": 128, "small": 2048, "base": 4096, "large": 8192}


def _lm_pattern(size: str, variant: str) -> dict:
    w, p = _UNIT[size], preset(size)
    if variant == "longformer":  # windows grow w -> 4w; the top layers dilate some heads
        return dict(pattern="sliding_window", schedule="growing", schedule_params=dict(
            min_window=w, max_window=4 * w, dilated_layers=max(1, p["depth"] // 6), dilation=2,
            dilated_heads=max(1, p["num_heads"] // 4)))
    if variant == "dilated":
        return dict(pattern="dilated_window", pattern_params=dict(left=2 * w, right=0, dilation=[1, 2]))
    if variant == "lsh":  # Reformer: local and LSH layers alternate
        return dict(pattern="lsh", pattern_params=dict(bucket_size=w, n_hashes=2 if size in ("tiny", "small") else 4,
                                                       chunk=w), schedule="reformer", schedule_params=dict(every=2))
    if variant == "strided":
        return dict(pattern="strided", pattern_params=dict(stride=w, heads="split"))
    if variant == "fixed":  # Sparse Transformer enwik8: fixed, c = l / 4
        return dict(pattern="fixed", pattern_params=dict(stride=2 * w, summary=w // 2))
    if variant == "bigbird":
        return dict(pattern="bigbird", pattern_params=dict(block=w, window_blocks=3, global_blocks=1,
                                                           random_blocks=1 if size == "tiny" else 2))
    if variant == "dense":
        return dict(pattern="dense")
    raise ValueError(variant)


def _lm(size: str, variant: str, **overrides) -> ByteLM:
    defaults = preset(size, max_seq_len=_LM_LEN[size], **_lm_pattern(size, variant))
    return ByteLM(make_config(LMConfig, defaults, overrides))


def _encoder_pattern(size: str, variant: str) -> dict:
    w = _UNIT[size]
    if variant == "longformer":
        return dict(pattern="longformer", pattern_params=dict(window=2 * w, global_tokens=1))
    if variant == "bigbird":
        return dict(pattern="bigbird", pattern_params=dict(block=w, window_blocks=3, global_blocks=1 if size == "tiny"
                                                           else 2, random_blocks=1 if size == "tiny" else 3))
    if variant == "lsh":
        return dict(pattern="lsh", pattern_params=dict(bucket_size=w, n_hashes=2, chunk=w), pool="mean")
    if variant == "anchor":
        return dict(pattern="anchor", pattern_params=dict(n_anchors=4 if size == "tiny" else 32, chunk=w, window=w),
                    pool="mean")
    if variant == "dense":
        return dict(pattern="dense")
    raise ValueError(variant)


def _encoder(size: str, variant: str, task: str, **overrides) -> Encoder:
    if task == "listops":  # LRA ListOps: 2,000 tokens, 10 classes
        geometry = dict(vocab_size=LISTOPS_VOCAB, max_seq_len=64 if size == "tiny" else 2000, num_labels=10)
    else:  # generic long documents, open_clip's tokenizer
        geometry = dict(vocab_size=CLIP_VOCAB, max_seq_len=4096, num_labels=2)
    defaults = preset(size, **geometry, **_encoder_pattern(size, variant))
    return Encoder(make_config(EncoderConfig, defaults, overrides))


from ..registry import register_model  # noqa: E402


@register_model("lm_tiny_longformer")
def lm_tiny_longformer(**kw): return _lm("tiny", "longformer", **kw)
@register_model("lm_tiny_dilated")
def lm_tiny_dilated(**kw): return _lm("tiny", "dilated", **kw)
@register_model("lm_tiny_lsh")
def lm_tiny_lsh(**kw): return _lm("tiny", "lsh", **kw)
@register_model("lm_tiny_strided")
def lm_tiny_strided(**kw): return _lm("tiny", "strided", **kw)
@register_model("lm_tiny_fixed")
def lm_tiny_fixed(**kw): return _lm("tiny", "fixed", **kw)
@register_model("lm_tiny_bigbird")
def lm_tiny_bigbird(**kw): return _lm("tiny", "bigbird", **kw)
@register_model("lm_tiny_dense")
def lm_tiny_dense(**kw): return _lm("tiny", "dense", **kw)
@register_model("lm_small_longformer")
def lm_small_longformer(**kw): return _lm("small", "longformer", **kw)
@register_model("lm_small_longformer.enwik8")
def lm_small_longformer_enwik8(**kw): return _lm("small", "longformer", **kw)
@register_model("lm_small_longformer.text8")
def lm_small_longformer_text8(**kw): return _lm("small", "longformer", **kw)
@register_model("lm_small_dilated.text8")
def lm_small_dilated_text8(**kw): return _lm("small", "dilated", **kw)
@register_model("lm_small_lsh.enwik8")
def lm_small_lsh_enwik8(**kw): return _lm("small", "lsh", **kw)
@register_model("lm_small_strided.enwik8")
def lm_small_strided_enwik8(**kw): return _lm("small", "strided", **kw)
@register_model("lm_small_fixed.enwik8")
def lm_small_fixed_enwik8(**kw): return _lm("small", "fixed", **kw)
@register_model("lm_small_bigbird.enwik8")
def lm_small_bigbird_enwik8(**kw): return _lm("small", "bigbird", **kw)
@register_model("lm_small_dense.enwik8")
def lm_small_dense_enwik8(**kw): return _lm("small", "dense", **kw)
@register_model("lm_base_longformer.enwik8")
def lm_base_longformer_enwik8(**kw): return _lm("base", "longformer", **kw)
@register_model("lm_base_lsh.enwik8")
def lm_base_lsh_enwik8(**kw): return _lm("base", "lsh", **kw)
@register_model("lm_base_fixed.enwik8")
def lm_base_fixed_enwik8(**kw): return _lm("base", "fixed", **kw)
@register_model("lm_large_longformer.enwik8")
def lm_large_longformer_enwik8(**kw): return _lm("large", "longformer", **kw)


@register_model("encoder_tiny_longformer")
def encoder_tiny_longformer(**kw): return _encoder("tiny", "longformer", "listops", **kw)
@register_model("encoder_tiny_bigbird")
def encoder_tiny_bigbird(**kw): return _encoder("tiny", "bigbird", "listops", **kw)
@register_model("encoder_tiny_lsh")
def encoder_tiny_lsh(**kw): return _encoder("tiny", "lsh", "listops", **kw)
@register_model("encoder_tiny_anchor")
def encoder_tiny_anchor(**kw): return _encoder("tiny", "anchor", "listops", **kw)
@register_model("encoder_tiny_dense")
def encoder_tiny_dense(**kw): return _encoder("tiny", "dense", "listops", **kw)
@register_model("encoder_small_longformer.listops")
def encoder_small_longformer_listops(**kw): return _encoder("small", "longformer", "listops", **kw)
@register_model("encoder_small_bigbird.listops")
def encoder_small_bigbird_listops(**kw): return _encoder("small", "bigbird", "listops", **kw)
@register_model("encoder_small_lsh.listops")
def encoder_small_lsh_listops(**kw): return _encoder("small", "lsh", "listops", **kw)
@register_model("encoder_small_anchor.listops")
def encoder_small_anchor_listops(**kw): return _encoder("small", "anchor", "listops", **kw)
@register_model("encoder_small_dense.listops")
def encoder_small_dense_listops(**kw): return _encoder("small", "dense", "listops", **kw)
@register_model("encoder_base_longformer")
def encoder_base_longformer(**kw): return _encoder("base", "longformer", "documents", **kw)
@register_model("encoder_base_bigbird")
def encoder_base_bigbird(**kw): return _encoder("base", "bigbird", "documents", **kw)
@register_model("encoder_large_longformer")
def encoder_large_longformer(**kw): return _encoder("large", "longformer", "documents", **kw)
