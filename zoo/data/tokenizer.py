"""Text tokenisation for captions and questions: CLIP's byte-level BPE (Radford et al., 2021)
through `open_clip.tokenizer.SimpleTokenizer`.

The BPE merges file (`bpe_simple_vocab_16e6.txt.gz`) ships inside the open_clip package, so
building the tokenizer needs no network. It is built once per process (`get_tokenizer` is
cached) because loading 49k merges costs ~0.1 s: never per sample.

Ids: 49,408 tokens; <start_of_text> = 49406, <end_of_text> = 49407; padding is 0. Id 0 is also
the real token "!", so masks come from positions (up to and including <end_of_text>), never from
`ids != 0`.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import torch

VOCAB_SIZE = 49408
SOT_ID = 49406
EOT_ID = 49407
PAD_ID = 0


@lru_cache(maxsize=1)
def get_tokenizer():
    """The process-wide CLIP tokenizer (lower-cases and cleans text like open_clip does)."""
    from open_clip.tokenizer import SimpleTokenizer

    tok = SimpleTokenizer()
    assert tok.vocab_size == VOCAB_SIZE and tok.sot_token_id == SOT_ID and tok.eot_token_id == EOT_ID
    return tok


def tokenize(texts: str | Sequence[str], length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Texts -> (ids int64 (B, L), mask bool (B, L)) with <sot> ... <eot>, padded with 0.

    Texts longer than `length` are cut and keep <eot> as their last token (open_clip's rule).
    """
    if isinstance(texts, str):
        texts = [texts]
    if length < 2:
        raise ValueError("length must leave room for <start_of_text> and <end_of_text>")
    ids = get_tokenizer()(list(texts), context_length=length).long()  # (B, L)
    is_eot = ids == EOT_ID
    last = torch.where(is_eot.any(1), is_eot.int().argmax(1), torch.full_like(ids[:, 0], length - 1))
    mask = torch.arange(length)[None, :] <= last[:, None]  # (B, L) True up to and incl. <eot>
    return ids, mask


def decode(ids: Sequence[int] | torch.Tensor) -> str:
    """Ids -> text, stopping at <end_of_text> and dropping <start_of_text>."""
    ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
    if EOT_ID in ids:
        ids = ids[:ids.index(EOT_ID)]
    ids = [i for i in ids if i != SOT_ID]
    return get_tokenizer().decode(ids).strip()
