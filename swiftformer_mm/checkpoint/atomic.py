# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Atomic local writes for everything mmengine saves (checkpoints first).

mmengine's ``LocalBackend.put`` opens the target and writes into it, so a
crash or a full disk mid-write leaves a truncated ``epoch_N.pth`` or
``last_checkpoint`` behind, and ``--resume`` then fails on it. Here the bytes
go to a temporary file in the same directory, are flushed to disk, and
replace the target with ``os.replace`` (atomic on POSIX and Windows): a reader
sees the old file or the new one, never a part.
"""
import os
import os.path as osp
import tempfile
from pathlib import Path
from typing import Union

from mmengine.fileio import LocalBackend, register_backend
from mmengine.fileio import io as mmengine_io


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


class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend with atomic ``put`` / ``put_text``."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        atomic_write(obj, filepath)

    def put_text(self, obj: str, filepath: Union[str, Path],
                 encoding: str = 'utf-8') -> None:
        atomic_write(obj.encode(encoding), filepath)


def use_atomic_local_writes() -> None:
    """Make mmengine's default local backend the atomic one (idempotent)."""
    register_backend('local', AtomicLocalBackend, force=True, prefixes='')
    # Drop LocalBackend instances cached before this call.
    for key, backend in list(mmengine_io.backend_instances.items()):
        if type(backend) is LocalBackend:
            del mmengine_io.backend_instances[key]
