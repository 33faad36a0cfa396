# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Checkpoint files: reading them safely (:mod:`.io`), the key layouts of
every published format (:mod:`.layouts`), the classes Runner checkpoints may
unpickle (:mod:`.safe_globals`), and atomic writes
(:mod:`.atomic`, the ``'atomic_local'`` file backend configs can name).

Nothing here imports the models: the models import this.
"""
from .atomic import AtomicLocalBackend, atomic_write
from .io import CheckpointError, read_state_dict
from .layouts import (FORMAT_ATTN_FORMULA, convert_swiftformer_state_dict,
                      detect_format, infer_arch)
from .safe_globals import allow_openmmlab_checkpoints, safe_load

__all__ = [
    'CheckpointError', 'read_state_dict', 'convert_swiftformer_state_dict',
    'detect_format', 'infer_arch', 'FORMAT_ATTN_FORMULA', 'atomic_write',
    'AtomicLocalBackend', 'allow_openmmlab_checkpoints', 'safe_load'
]
