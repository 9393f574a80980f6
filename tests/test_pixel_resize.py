"""Pixel data from larger images: easy-VQA's 64x64 images as 32x32 sequences (area average)."""
import io
import random

import numpy as np
import torch
from PIL import Image

from zoo.data.decode import PixelDecoder


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def test_resize_area_averages_to_the_requested_side():
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    out = PixelDecoder([64, 64], resize=32)({"png": _png(arr)}, random.Random(0))[0]["image"]
    assert out.shape == (3, 32, 32) and out.dtype == torch.uint8
    mean = arr.reshape(32, 2, 32, 2, 3).astype(np.float64).mean(axis=(1, 3))  # (32, 32, 3)
    assert np.abs(out.permute(1, 2, 0).numpy() - mean).max() <= 1.0  # BOX filter = 2x2 mean, rounded


def test_without_resize_a_wrong_size_is_a_broken_sample():
    arr = np.zeros((48, 48, 3), dtype=np.uint8)
    try:
        PixelDecoder([64, 64])({"png": _png(arr)}, random.Random(0))
    except ValueError as e:
        assert "64" in str(e)
    else:
        raise AssertionError("a 48x48 image passed as 64x64")
