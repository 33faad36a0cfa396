# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Let ``torch.load(weights_only=True)`` read OpenMMLab Runner checkpoints.

Since torch 2.6 ``torch.load`` refuses any Python object it does not know,
and mmengine 0.10.7 does not say ``weights_only``; so ``--resume`` and
``load_from`` fail on checkpoints written by mmengine's own Runner. The
objects such a checkpoint holds besides tensors are:

* ``mmengine.logging.HistoryBuffer`` (the logged scalars of the message hub),
  whose state pickles its statistics methods as ``getattr(HistoryBuffer,
  'mean')`` and so on;
* numpy arrays and scalars inside it and in the runtime info.

Exactly those are allow-listed here, and ``getattr`` is replaced, for the
unpickler only, by a version that can fetch nothing but HistoryBuffer's
statistics methods. Everything else (``os.system``, arbitrary classes, any
other ``getattr``) is still refused; the protection is never switched off.
"""
import pickle

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

_registered = False


def _history_buffer_getattr(obj, name):
    """``getattr`` restricted to HistoryBuffer's statistics methods."""
    if obj is HistoryBuffer and name in HistoryBuffer._statistics_methods:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'getattr({obj!r}, {name!r}) is not allowed in a checkpoint')


def _numpy_globals():
    """numpy's array/scalar reconstructors and numeric dtypes, under both
    numpy 1 (``numpy.core``) and numpy 2 (``numpy._core``) names, so
    checkpoints written with either load with either."""
    multiarray = np._core.multiarray if hasattr(np, '_core') else \
        np.core.multiarray
    entries = [np.ndarray, np.dtype]
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        entries += [(multiarray._reconstruct, f'{module}._reconstruct'),
                    (multiarray.scalar, f'{module}.scalar')]
    numeric = [np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8,
               np.uint16, np.uint32, np.uint64, np.float16, np.float32,
               np.float64, np.complex64, np.complex128]
    entries += [type(np.dtype(t)) for t in numeric]
    return entries


def allow_openmmlab_checkpoints() -> None:
    """Allow-list the objects of mmengine Runner checkpoints (idempotent)."""
    global _registered
    if _registered:
        return
    HistoryBuffer()  # fills HistoryBuffer._statistics_methods
    torch.serialization.add_safe_globals(
        [HistoryBuffer, (_history_buffer_getattr, 'builtins.getattr')] +
        _numpy_globals())
    _registered = True
