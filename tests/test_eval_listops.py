"""ListOps accuracy, confusion matrix and its picture."""
import numpy as np
import pytest
import torch
from torch import nn

from zoo.eval import classification_scores, confusion_matrix, plot_confusion
from zoo.eval.listops import predict_classes


class FirstTokenClassifier(nn.Module):
    """Fixture: predicts (first token mod 10) — and fails loudly if labels reach it."""

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, input_ids, attention_mask=None, **rest):
        assert "labels" not in rest
        return {"logits": nn.functional.one_hot(input_ids[:, 0] % 10, 10).float() + self.dummy}


def test_confusion_matrix_sums_to_n_and_diagonal_is_accuracy():
    g = np.random.default_rng(0)
    labels = g.integers(0, 10, 537)
    preds = np.where(g.random(537) < 0.6, labels, g.integers(0, 10, 537))
    cm = confusion_matrix(preds, labels)
    assert cm.shape == (10, 10) and cm.sum() == 537
    assert (cm.sum(axis=1) == np.bincount(labels, minlength=10)).all()  # rows = true class
    s = classification_scores(preds, labels)
    assert s["n"] == 537
    assert s["accuracy"] == pytest.approx(100 * np.mean(preds == labels))
    assert np.trace(np.array(s["confusion_matrix"])) == int(np.sum(preds == labels))


def test_predict_classes_on_batches_and_bad_labels():
    x = torch.tensor([[3, 1], [12, 0], [7, 7], [9, 9], [4, 4]])
    batches = [{"input_ids": x[:3], "attention_mask": torch.ones(3, 2, dtype=torch.bool),
                "labels": torch.tensor([3, 2, 0])},
               {"input_ids": x[3:], "labels": torch.tensor([9, 4])}]
    preds, labels, _ = predict_classes(FirstTokenClassifier(), batches)
    assert preds == [3, 2, 7, 9, 4] and labels == [3, 2, 0, 9, 4]
    assert classification_scores(preds, labels)["accuracy"] == 80.0
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix([10], [1])
    with pytest.raises(ValueError, match="predictions for"):
        confusion_matrix([1, 2], [1])


def test_confusion_picture_is_written(tmp_path):
    cm = confusion_matrix([0, 1, 1, 2, 9], [0, 1, 2, 2, 9])
    p = plot_confusion(cm, tmp_path / "cm.png")
    assert p.exists() and p.read_bytes()[:4] == b"\x89PNG"
