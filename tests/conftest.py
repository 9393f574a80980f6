"""Shared test settings: CPU only, deterministic, quiet DeepSpeed."""
import os

os.environ.setdefault("DS_ACCELERATOR", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TORCH_EXTENSIONS_DIR", os.path.join(os.path.dirname(os.path.dirname(__file__)), ".cache", "torch_extensions"))

import torch  # noqa: E402

# tests use tiny tensors: one thread is faster and immune to contention from other processes
torch.set_num_threads(1)

import pytest  # noqa: E402


@pytest.fixture
def eager_flex(monkeypatch):
    """FlexAttention's unfused path (ZOO_FLEX_EAGER=1), so the flex backend runs on CPU (forward only)."""
    monkeypatch.setenv("ZOO_FLEX_EAGER", "1")  # read per call (block_mask.compiled_flex)
    yield
