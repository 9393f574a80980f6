"""The restricted unpickler reads CIFAR-10's Python 2 batches and refuses anything executable."""
from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from zoo.data import fixtures
from zoo.data.cifar10 import read_batch
from zoo.data.safe_pickle import safe_load


class _Evil:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def test_reads_python2_cifar_batch(tmp_path):
    fx = fixtures.write_cifar10(tmp_path, per_batch=5)
    raw = (fx["folder"] / "data_batch_1").read_bytes()
    assert raw.startswith(b"\x80\x02") and b"cnumpy.core.multiarray\n_reconstruct" in raw
    batch = safe_load(fx["folder"] / "data_batch_1")
    assert set(batch) == {b"batch_label", b"labels", b"data", b"filenames"}
    assert batch[b"data"].dtype == np.uint8 and batch[b"data"].shape == (5, 3072)
    images, labels, names = read_batch(fx["folder"] / "data_batch_1")
    assert np.array_equal(images, fx["train"][0][:5]) and labels == fx["train"][1][:5]
    assert names[0] == "img_0_0.png"


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_rejects_code_execution(tmp_path, protocol):
    target = tmp_path / "pwned"
    payload = pickle.dumps({b"data": _Evil(target)}, protocol=protocol)
    with pytest.raises(pickle.UnpicklingError, match=r"posix\.system|os\.system"):
        safe_load(payload)
    assert not target.exists()
    path = tmp_path / "data_batch_1"
    path.write_bytes(payload)
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        read_batch(path)
    assert not target.exists()


@pytest.mark.parametrize("obj", [eval, getattr, set([1]), bytearray(b"x"),
                                 np.array([None], dtype=object), np.int64(3)])
def test_rejects_other_globals_and_object_arrays(obj):
    with pytest.raises(pickle.UnpicklingError):
        safe_load(pickle.dumps(obj, protocol=2))


def test_codecs_encode_only_latin1_of_str():
    import _codecs

    class Sneaky:
        def __reduce__(self):
            return (_codecs.encode, (b"x" * 10, "zlib_codec"))

    with pytest.raises(pickle.UnpicklingError, match="latin1"):
        safe_load(pickle.dumps(Sneaky(), protocol=2))


def test_accepts_plain_data():
    obj = {"a": [1, 2.5, True, None, b"x", "y", (1, 2)], "arr": np.arange(6, dtype=np.int16).reshape(2, 3)}
    for protocol in (2, 4):
        got = safe_load(pickle.dumps(obj, protocol=protocol))
        assert got["a"] == obj["a"] and np.array_equal(got["arr"], obj["arr"])
