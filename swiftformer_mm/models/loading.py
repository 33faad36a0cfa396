# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Loading SwiftFormer weights from any published checkpoint, or failing
with the reason: the one path that the backbone's ``init_weights``, the
classifier's, and every tool take.

A file is read by :func:`~swiftformer_mm.checkpoint.read_state_dict` (any
container, safetensors, the pickle allow-list), its keys are mapped by
:func:`~swiftformer_mm.checkpoint.convert_swiftformer_state_dict`, and
:func:`adapt_state_dict` checks what mmengine's ``Pretrained`` init would
only warn about: the attention formula, the arch, every shape, every tensor.
"""
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.logging import MMLogger

from ..checkpoint import (CheckpointError, convert_swiftformer_state_dict,
                          read_state_dict)
from ..checkpoint.layouts import rename_key
from ..checkpoint.matching import check_attn_formula, select_matching


def _backbone_of(model: nn.Module) -> nn.Module:
    """The SwiftFormer itself, or a classifier's ``backbone``. (Recognised by
    its arch table: this module is imported by the backbone's own.)"""
    backbone = getattr(model, 'backbone', model)
    if not hasattr(backbone, 'arch_settings') or not hasattr(
            backbone, 'attn_formula'):
        raise TypeError(f'{type(model).__name__} is neither a SwiftFormer nor '
                        'a classifier with a SwiftFormer backbone')
    return backbone


def adapt_state_dict(model: nn.Module, state_dict: Dict[str, torch.Tensor],
                     meta: Optional[dict] = None, source: str = 'checkpoint',
                     prefix: Optional[str] = None
                     ) -> Tuple[Dict[str, torch.Tensor], str]:
    """``state_dict``, in any supported layout, as ``model``'s own tensors,
    and the layout it was in.

    ``model`` is a ``SwiftFormer`` (the checkpoint's classifier, if any,
    is dropped; the output norms, which ImageNet checkpoints lack, may be
    missing) or a classifier around one (``backbone``, ``head``; trunk,
    final norm and heads must all be there).

    Raises:
        CheckpointError: The other attention formula, another arch, shapes
            that do not fit, missing tensors, or (classifier) no head or a
            head for another number of classes; each says what to set.
    """
    backbone = _backbone_of(model)
    classifier = model is not backbone
    state_dict, fmt = convert_swiftformer_state_dict(
        state_dict, prefix=prefix, keep_head=classifier)
    check_attn_formula(source, fmt, meta or {}, backbone.attn_formula)
    own_state = model.state_dict()
    if not classifier:
        out_norms = [f'norm{backbone.stage_network_indices[i]}.'
                     for i in backbone.out_indices]
        return select_matching(source, fmt, state_dict, own_state,
                               backbone.arch, backbone.arch_settings,
                               out_norms), fmt
    if not any(k.startswith(('head.', 'dist_head.')) for k in state_dict):
        raise CheckpointError(
            f'{source} ({fmt} format) has SwiftFormer weights but no '
            'classification head (head.*, dist_head.*): it is a backbone, '
            'detection or segmentation checkpoint. A classifier needs an '
            "ImageNet classification checkpoint (the authors', timm's, "
            "Hugging Face's or an mmpretrain one); to fine-tune from a "
            "backbone, load it with the backbone's init_cfg instead.")
    # The classifier's names in the authors' naming, to compare.
    names = {rename_key(k, 'mmpretrain'): k for k in own_state}
    own = {name: own_state[k] for name, k in names.items()}
    head = state_dict.get('head.weight')
    if head is not None and head.shape != own['head.weight'].shape:
        raise CheckpointError(
            f'{source} has a head for {head.shape[0]} classes, but the '
            f"model's head has num_classes={own['head.weight'].shape[0]}. "
            "Set model.head.num_classes to the checkpoint's, or, to "
            'fine-tune on other classes, load only the trunk with '
            "model.backbone.init_cfg=dict(type='Pretrained', "
            'checkpoint=PATH).')
    usable = select_matching(source, fmt, state_dict, own, backbone.arch,
                             backbone.arch_settings, what='classifier')
    return {names[k]: v for k, v in usable.items()}, fmt


def load_checkpoint(model: nn.Module, path: str,
                    prefix: Optional[str] = None,
                    map_location='cpu') -> int:
    """Load the checkpoint at ``path`` (any published SwiftFormer format,
    see :func:`adapt_state_dict`) into ``model``; return the number of
    tensors loaded, and log where they came from.

    Raises:
        FileNotFoundError: No such file.
        CheckpointError: Anything that would leave weights random or wrong.
    """
    state_dict, meta = read_state_dict(path, map_location=map_location)
    usable, fmt = adapt_state_dict(model, state_dict, meta, source=path,
                                   prefix=prefix)
    # A backbone may lack only its output norms (adapt_state_dict checked).
    model.load_state_dict(usable, strict=_backbone_of(model) is not model)
    MMLogger.get_current_instance().info(
        f'{type(model).__name__}: loaded {len(usable)}/'
        f'{len(model.state_dict())} tensors from {fmt} checkpoint {path}')
    return len(usable)
