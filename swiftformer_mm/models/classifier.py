# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""The authors' ImageNet classifier as an mmpretrain model.

It is mmpretrain's own ``ImageClassifier`` with SwiftFormer (``out_indices=
(3,)``: its last output norm is the authors' final BatchNorm ``norm``),
``GlobalAveragePooling`` and ``EfficientFormerClsHead(distillation=True)``
(``head`` and ``dist_head``, averaged). The only addition is loading:
mmengine's ``Pretrained`` reads OpenMMLab files only and, finding nothing it
knows, merely warns; here every published classification checkpoint (the
authors', timm, Hugging Face, mmpretrain) is mapped, checked to be complete
and loaded, or refused with the reason, by the loading path the backbone
uses too (:mod:`.loading`).
"""
from mmpretrain.models import ImageClassifier

from .loading import load_checkpoint


# Registered in mmpretrain's MODELS by swiftformer_mm.models (lazily, so that
# importing the package does not import mmpretrain.models).
class SwiftFormerClassifier(ImageClassifier):
    """``ImageClassifier`` whose ``init_cfg=dict(type='Pretrained',
    checkpoint=PATH)`` loads any SwiftFormer classification checkpoint.

    Example:
        >>> import torch
        >>> import swiftformer_mm  # noqa: F401  (registers the models)
        >>> from mmpretrain.registry import MODELS
        >>> model = MODELS.build(dict(
        ...     type='SwiftFormerClassifier',
        ...     backbone=dict(type='SwiftFormer', arch='xs', out_indices=(3,)),
        ...     neck=dict(type='GlobalAveragePooling'),
        ...     head=dict(type='EfficientFormerClsHead', in_channels=220,
        ...               num_classes=1000)))
        >>> model.eval()(torch.rand(1, 3, 224, 224)).shape
        torch.Size([1, 1000])
    """

    def init_weights(self) -> None:
        init_cfg = self.init_cfg
        if not (isinstance(init_cfg, dict)
                and init_cfg.get('type') == 'Pretrained'):
            super().init_weights()
            return
        load_checkpoint(self, init_cfg['checkpoint'], init_cfg.get('prefix'))
        self._is_init = True
