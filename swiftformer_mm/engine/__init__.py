# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Training/testing machinery the tools use on top of mmengine.

Importing it registers ``CPUAmpOptimWrapper``, ``ExactResumeHook`` and
``CPUDistributedDataParallel`` in mmengine's registries, and changes nothing
else (mmcv's ops get fp32 inputs only inside ``CPUAmpOptimWrapper``'s
``optim_context``). The training configs list it in ``custom_imports`` for
the ``ExactResumeHook`` they name.
"""
from .amp import CPUAmpOptimWrapper, apply_amp
from .config import (check_image_folders, check_num_classes,
                     check_pretrained_files, check_trainable_head, setup_task)
from .distributed import CPUDistributedDataParallel, setup_distributed
from .resume import (ExactResumeHook, find_resumable_checkpoint,
                     get_rng_state, set_rng_state)

__all__ = [
    'CPUAmpOptimWrapper', 'apply_amp', 'check_num_classes',
    'check_image_folders', 'check_pretrained_files', 'check_trainable_head',
    'setup_task', 'CPUDistributedDataParallel',
    'setup_distributed', 'ExactResumeHook', 'find_resumable_checkpoint',
    'get_rng_state', 'set_rng_state'
]
