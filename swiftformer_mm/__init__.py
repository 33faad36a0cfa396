# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""SwiftFormer for MMDetection 3.x, MMSegmentation 1.x and MMPretrain 1.x.

Importing the package registers, and changes nothing else in the process:

* ``SwiftFormer`` in mmdet's, mmseg's and mmpretrain's ``MODELS`` registries,
  and ``SwiftFormerClassifier`` in mmpretrain's, so configs only need::

      custom_imports = dict(imports=['swiftformer_mm'], allow_failed_imports=False)

* the ``'atomic_local'`` file backend in mmengine's backend registry, which a
  config names to write checkpoints atomically (mmengine's default ``'local'``
  backend is left as it is);
* the classes that mmengine Runner checkpoints hold, on torch's allow-list for
  ``torch.load(weights_only=True)`` (:func:`allow_openmmlab_checkpoints`), so
  that ``--resume`` and ``load_from`` work with torch >= 2.6 while a pickle
  that would run code is still refused.

Where the installed transformers has removed helpers that mmpretrain's
multimodal models import, mmpretrain's ``WITH_MULTIMODAL`` switch is turned off
(:func:`swiftformer_mm.compat.mend_mmpretrain_multimodal`); without that, no
mmpretrain model builds at all in such an environment.
"""
from .checkpoint import (CheckpointError, allow_openmmlab_checkpoints,
                         convert_swiftformer_state_dict, read_state_dict)
from .models import SwiftFormer
from .version import __version__

allow_openmmlab_checkpoints()

__all__ = [
    '__version__', 'SwiftFormer', 'CheckpointError', 'read_state_dict',
    'convert_swiftformer_state_dict'
]
