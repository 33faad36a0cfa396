# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""SwiftFormer for MMDetection 3.x and MMSegmentation 1.x.

Importing the package registers ``SwiftFormer`` in mmdet's and mmseg's model
registries, so configs only need::

    custom_imports = dict(imports=['swiftformer_mm'], allow_failed_imports=False)
"""
from .checkpoint import (CheckpointError, allow_openmmlab_checkpoints,
                         convert_swiftformer_state_dict, read_state_dict,
                         use_atomic_local_writes)
from .models import SwiftFormer
from .version import __version__

# Runner checkpoints (--resume, load_from) load with torch.load's safety on,
# and are written atomically.
allow_openmmlab_checkpoints()
use_atomic_local_writes()

__all__ = [
    '__version__', 'SwiftFormer', 'CheckpointError', 'read_state_dict',
    'convert_swiftformer_state_dict'
]
