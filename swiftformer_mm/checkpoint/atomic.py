# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Atomic local writes, as an mmengine file backend a config names.

mmengine's ``LocalBackend.put`` opens the target and writes into it, so a
crash or a full disk mid-write leaves a truncated ``epoch_N.pth`` behind, and
``--resume`` then fails on it. :class:`AtomicLocalBackend` writes the bytes to
a temporary file in the same directory, flushes them to disk, and replaces the
target with ``os.replace`` (atomic on POSIX and Windows): a reader sees the old
file or the new one, never a part.

It is registered under its own name, ``'atomic_local'``, and used only where a
config asks for it; mmengine's default ``'local'`` backend stays as it is for
every other file of the process. This project's configs ask for it for their
checkpoints::

    default_hooks = dict(checkpoint=dict(
        backend_args=dict(backend='atomic_local')))

(``work_dir/last_checkpoint`` is written by mmengine's ``CheckpointHook`` with
a plain ``open()``, whatever the backend; ``tools/train.py --resume`` does not
trust it, see :mod:`swiftformer_mm.engine.resume`.)
"""
import os
import os.path as osp
import tempfile
from pathlib import Path
from typing import Union

from mmengine.fileio import LocalBackend, register_backend

#: The name configs give in ``backend_args=dict(backend=...)``.
BACKEND_NAME = 'atomic_local'


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(data: bytes, filepath: Union[str, Path]) -> None:
    """Write ``data`` to ``filepath`` so that it is never seen half-written."""
    filepath = str(filepath)
    directory = osp.dirname(osp.abspath(filepath))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory,
                               prefix=f'.{osp.basename(filepath)}.',
                               suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates 0600 files; give the usual umask-based mode.
        os.chmod(tmp, 0o666 & ~_current_umask())
        os.replace(tmp, filepath)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


@register_backend(BACKEND_NAME)
class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend with atomic ``put`` / ``put_text``."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        atomic_write(obj, filepath)

    def put_text(self, obj: str, filepath: Union[str, Path],
                 encoding: str = 'utf-8') -> None:
        atomic_write(obj.encode(encoding), filepath)

