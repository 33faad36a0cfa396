# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Read checkpoints as data, never as code, on every supported torch.

:func:`safe_load` is how this package opens a checkpoint file; it lets
OpenMMLab Runner checkpoints through and nothing else.

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

torch < 2.6 cannot extend its ``weights_only`` allow-list that way
(``add_safe_globals`` came in 2.4, with ``(object, name)`` pairs in 2.6).
There :func:`safe_load` gives ``torch.load`` a restricted pickle module
instead: the same allow-list (torch's own for tensors and storages, plus the
one above), checked by ``find_class`` as the Python docs' "Restricting
Globals" recipe does, so the files our code opens are read with the same
protection on torch 2.1 as on torch 2.13.
"""
import _compat_pickle
import codecs
import pickle
import types

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
    # numpy 1.26 has a numpy._core too, without multiarray
    multiarray = np._core.multiarray if int(np.__version__.split('.')[0]) \
        >= 2 else np.core.multiarray
    # protocol-2 pickles of numpy arrays carry their bytes through
    # _codecs.encode (torch >= 2.4 allow-lists it too; 2.1 does not)
    entries = [np.ndarray, np.dtype, (codecs.encode, '_codecs.encode')]
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        entries += [(multiarray._reconstruct, f'{module}._reconstruct'),
                    (multiarray.scalar, f'{module}.scalar')]
    numeric = [np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8,
               np.uint16, np.uint32, np.uint64, np.float16, np.float32,
               np.float64, np.complex64, np.complex128]
    entries += [type(np.dtype(t)) for t in numeric]
    return entries


def _allow_list() -> list:
    """The objects of Runner checkpoints: objects, or (object, name) pairs
    for those unpickled under another name."""
    HistoryBuffer()  # fills HistoryBuffer._statistics_methods
    return [HistoryBuffer, (_history_buffer_getattr, 'builtins.getattr')] + \
        _numpy_globals()


def _extensible_weights_only() -> bool:
    """Whether torch's weights_only unpickler takes (object, name) pairs in
    its allow-list (torch >= 2.6)."""
    return hasattr(torch.serialization, 'get_unsafe_globals_in_checkpoint')


def allow_openmmlab_checkpoints() -> None:
    """Allow-list the objects of mmengine Runner checkpoints in torch's
    ``weights_only`` loading (idempotent), where torch lets an allow-list be
    extended that way (>= 2.6, where ``weights_only=True`` is also the
    default that mmengine's own loading meets). On older torch nothing is
    registered: mmengine loads as it always did there, and
    :func:`safe_load` brings its own allow-list."""
    global _registered
    if _registered or not _extensible_weights_only():
        return
    torch.serialization.add_safe_globals(_allow_list())
    _registered = True


def _restricted_pickle_module() -> types.ModuleType:
    """A stand-in for the ``pickle`` module whose ``Unpickler`` resolves only
    the globals of :func:`_allow_list` and torch's own weights-only ones."""
    from torch._weights_only_unpickler import _get_allowed_globals
    allowed = dict(_get_allowed_globals())
    for entry in _allow_list():
        obj, name = entry if isinstance(entry, tuple) else (
            entry, f'{entry.__module__}.{entry.__qualname__}')
        allowed[name] = obj

    class RestrictedUnpickler(pickle.Unpickler):

        def find_class(self, module, name):
            # protocol-2 pickles (torch.save's) name Python 3 modules by
            # their Python 2 names (__builtin__): map them as pickle does
            # (the names mapped are Python 2's only)
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
            full = f'{module}.{name}'
            if full in allowed:
                return allowed[full]
            # torch's wording, which read_state_dict's error handling knows
            raise pickle.UnpicklingError(
                f'Weights only load failed: Unsupported global: GLOBAL {full} '
                'was not an allowed global by default.')

    def load(file, **kwargs):
        return RestrictedUnpickler(file, **kwargs).load()

    module = types.ModuleType('swiftformer_mm_restricted_pickle')
    module.Unpickler = RestrictedUnpickler
    module.load = load
    module.__dict__.update(
        {k: getattr(pickle, k) for k in ('UnpicklingError', 'HIGHEST_PROTOCOL',
                                         'dumps', 'dump', 'Pickler')})
    return module


def safe_load(path, map_location='cpu'):
    """``torch.load`` of ``path`` that unpickles tensors, plain Python
    values, and the objects of Runner checkpoints only; anything else raises
    ``pickle.UnpicklingError`` ("Unsupported global"), on any torch."""
    if _extensible_weights_only():
        allow_openmmlab_checkpoints()
        return torch.load(path, map_location=map_location, weights_only=True)
    return torch.load(path, map_location=map_location, weights_only=False,
                      pickle_module=_restricted_pickle_module())
