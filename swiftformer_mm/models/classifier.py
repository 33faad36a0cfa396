# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""The authors' ImageNet classifier as an mmpretrain model.

It is mmpretrain's own ``ImageClassifier`` with SwiftFormer (``out_indices=
(3,)``: its last output norm is the authors' final BatchNorm ``norm``),
``GlobalAveragePooling`` and ``EfficientFormerClsHead(distillation=True)``
(``head`` and ``dist_head``, averaged). The only addition is loading:
mmengine's ``Pretrained`` reads OpenMMLab files only and, finding nothing it
knows, merely warns; here every published classification checkpoint (the
authors', timm, Hugging Face, mmpretrain) is mapped, checked to be complete
and loaded, or refused with the reason.
"""
from typing import Optional

from mmengine.logging import MMLogger
from mmpretrain.models import ImageClassifier
from mmpretrain.registry import MODELS

from ..checkpoint import (CheckpointError, convert_swiftformer_state_dict,
                          read_state_dict)
from ..checkpoint.layouts import rename_key
from ..checkpoint.matching import check_attn_formula, select_matching


@MODELS.register_module()
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
        self.load_classifier(init_cfg['checkpoint'], init_cfg.get('prefix'))
        self._is_init = True

    def load_classifier(self, path: str, prefix: Optional[str] = None) -> int:
        """Load a whole classifier (trunk, final norm, heads) from ``path``,
        in any supported layout; return the number of tensors loaded."""
        state_dict, meta = read_state_dict(path)
        state_dict, fmt = convert_swiftformer_state_dict(
            state_dict, prefix=prefix, keep_head=True)
        backbone = self.backbone
        check_attn_formula(path, fmt, meta, backbone.attn_formula)
        if not any(k.startswith(('head.', 'dist_head.')) for k in state_dict):
            raise CheckpointError(
                f'{path} ({fmt} format) has SwiftFormer weights but no '
                'classification head (head.*, dist_head.*): it is a backbone, '
                'detection or segmentation checkpoint. A classifier needs an '
                "ImageNet classification checkpoint (the authors', timm's, "
                "Hugging Face's or an mmpretrain one); to fine-tune from a "
                "backbone, load it with the backbone's init_cfg instead.")
        # Our names in the authors' naming, to compare with the checkpoint.
        ours = {rename_key(k, 'mmpretrain'): k for k in self.state_dict()}
        own = {name: self.state_dict()[k] for name, k in ours.items()}
        head = state_dict.get('head.weight')
        if head is not None and head.shape != own['head.weight'].shape:
            raise CheckpointError(
                f'{path} has a head for {head.shape[0]} classes, but the '
                f"model's head has num_classes={own['head.weight'].shape[0]}. "
                'Set model.head.num_classes to the checkpoint\'s, or, to '
                'fine-tune on other classes, load only the trunk with '
                "model.backbone.init_cfg=dict(type='Pretrained', "
                'checkpoint=PATH).')
        usable = select_matching(path, fmt, state_dict, own, backbone.arch,
                                 backbone.arch_settings, what='classifier')
        self.load_state_dict({ours[k]: v for k, v in usable.items()},
                             strict=True)
        MMLogger.get_current_instance().info(
            f'SwiftFormerClassifier: loaded {len(usable)} tensors from {fmt} '
            f'checkpoint {path}')
        return len(usable)
