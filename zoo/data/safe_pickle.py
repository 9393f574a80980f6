"""A restricted unpickler for dataset files that are pickles (CIFAR-10's python batches).

A pickle is a program: `pickle.load` runs whatever callables the file names. The CIFAR-10
"python version" batches (Krizhevsky, 2009) are Python 2 pickles of a dict holding a numpy
array, a list of ints and byte strings, so we admit exactly what such a file needs:

- the opcodes for dicts, lists, tuples, bytes, str, ints, floats, bools, None (no globals), and
- `_codecs.encode(text, "latin1")`, which is how Python 3 writes bytes at protocol <= 2
  (a re-pickled batch), admitted only with str input and the latin1 codec, and
- numpy array reconstruction: `numpy.core.multiarray._reconstruct` (also spelled
  `numpy._core.multiarray` by numpy 2), `numpy.ndarray` and `numpy.dtype`.

Every other global (os.system, builtins.eval, subprocess.*, copyreg helpers, ...) is refused
before it is imported, and object-dtype arrays (which smuggle arbitrary objects) are rejected
after loading.
"""
from __future__ import annotations

import io
import os
import pickle
from typing import Any, BinaryIO

import numpy as np

_RECONSTRUCT_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray")


def _numpy_reconstruct():
    try:  # numpy >= 2: the real home; numpy.core is a deprecated alias that warns on import
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


def _latin1_encode(text: Any, encoding: str = "utf-8", *rest: Any) -> bytes:
    """`_codecs.encode` limited to what a protocol-2 bytes object needs."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1") or rest:
        raise pickle.UnpicklingError("_codecs.encode is admitted only as encode(str, 'latin1')")
    return text.encode("latin1")


class RestrictedUnpickler(pickle.Unpickler):
    """`pickle.Unpickler` whose `find_class` admits only numpy array reconstruction."""

    def __init__(self, file: BinaryIO, *, source: str = "<pickle>", encoding: str = "bytes"):
        # encoding="bytes": Python 2 str objects (CIFAR's keys) load as bytes, as the CIFAR page says
        super().__init__(file, encoding=encoding)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        if name == "_reconstruct" and module in _RECONSTRUCT_MODULES:
            return _numpy_reconstruct()
        if module == "_codecs" and name == "encode":
            return _latin1_encode
        if module == "numpy" and name == "ndarray":
            return np.ndarray
        if module == "numpy" and name == "dtype":
            return np.dtype
        raise pickle.UnpicklingError(
            f"{self.source}: refusing to load global {module}.{name}; this reader admits only "
            "dicts, lists, bytes, str, numbers and numpy arrays")

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError(f"{self.source}: persistent ids are not allowed")


def _check(obj: Any, source: str, depth: int = 0) -> None:
    """Walk the loaded object: only plain containers, scalars and non-object arrays pass."""
    if depth > 100:
        raise pickle.UnpicklingError(f"{source}: nesting deeper than 100")
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise pickle.UnpicklingError(f"{source}: object-dtype numpy arrays are not allowed")
        if type(obj) is not np.ndarray:
            raise pickle.UnpicklingError(f"{source}: numpy array subclass {type(obj).__name__}")
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _check(k, source, depth + 1)
            _check(v, source, depth + 1)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _check(v, source, depth + 1)
    elif not isinstance(obj, (bytes, str, int, float, bool, type(None), np.dtype)):
        raise pickle.UnpicklingError(f"{source}: unexpected {type(obj).__name__} in pickle")


def safe_load(src: str | os.PathLike | bytes | BinaryIO, *, encoding: str = "bytes") -> Any:
    """Load a pickle that may contain only dicts, lists, bytes, str, numbers and numpy arrays."""
    if isinstance(src, (bytes, bytearray)):
        source, obj = "<bytes>", RestrictedUnpickler(io.BytesIO(src), encoding=encoding).load()
    elif hasattr(src, "read"):
        source = getattr(src, "name", "<stream>")
        obj = RestrictedUnpickler(src, source=str(source), encoding=encoding).load()
    else:
        source = os.fspath(src)
        with open(source, "rb") as f:
            obj = RestrictedUnpickler(f, source=source, encoding=encoding).load()
    _check(obj, str(source))
    return obj
