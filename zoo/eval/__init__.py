"""Evaluation: captioning metrics, VQA accuracy, bits/dim, bits/char, ListOps — and `zoo eval`.

Scoring functions take plain Python data; evaluators take a plain ``nn.Module`` and an iterable
of batches, so everything here is usable (and tested) without the registry or data pipeline.
"""
from .captioning import caption_scores, spice_available
from .likelihood import (
    bits_per_char,
    bits_per_dim,
    evaluate_lm,
    evaluate_lm_sliding,
    evaluate_pixels,
    pixel_nll,
    rasterize,
    sliding_windows,
    token_nll,
)
from .listops import classification_scores, confusion_matrix, plot_confusion
from .report import make_record, print_report, write_report
from .vqa import normalize_answer, vqa_accuracy, vqa_question_accuracy

__all__ = [
    "caption_scores", "spice_available",
    "vqa_accuracy", "vqa_question_accuracy", "normalize_answer",
    "bits_per_dim", "bits_per_char", "token_nll", "pixel_nll", "rasterize",
    "evaluate_pixels", "evaluate_lm", "evaluate_lm_sliding", "sliding_windows",
    "classification_scores", "confusion_matrix", "plot_confusion",
    "make_record", "write_report", "print_report",
]
