# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Deploy-time fusion of SwiftFormer backbones inside any model.

:func:`switch_to_deploy` finds every :class:`~swiftformer_mm.models.SwiftFormer`
inside a model (a bare backbone, a detector, a segmentor, a classifier) and
asks it to fuse itself, in place; each of its blocks knows its own inference
twin (:mod:`swiftformer_mm.models.blocks`):

* every BatchNorm is folded into a neighbouring conv/linear: conv -> BN in the
  stem, the downsamples and the conv blocks (``dwconv``), and BN -> 1x1 conv in
  the attention block's MLP (``norm1`` precedes ``fc1``; exact because ``fc1``
  is 1x1 with no padding);
* every layer scale is folded into the layer before it (``layer_scale`` into
  ``pwconv2``, ``layer_scale_1`` into ``attn.final``, ``layer_scale_2`` into
  ``fc2``);
* ``to_query`` and ``to_key`` become one matmul (``attn.qk``), the attention
  scale is folded into ``w_g``, and what becomes identity (norms, drop path,
  dropout) is dropped.

All folding is done in float64 and cast back, so the deploy form matches the
training form (eval mode, same weights) to float32 rounding.
:func:`fuse_state_dict` does the same to a checkpoint's tensors
(``tools/model_converters/deploy_checkpoint.py``).
"""
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn

from .checkpoint import (FORMAT_ATTN_FORMULA, CheckpointError,
                         convert_swiftformer_state_dict, infer_arch)
from .models import SwiftFormer
from .models.blocks import (DeployAttention, DeployConvEncoder,
                            DeployDownsample, DeployMlp,
                            DeploySwiftFormerEncoder)

__all__ = [
    'switch_to_deploy', 'fuse_state_dict',
    'is_deploy_state_dict', 'DeployConvEncoder', 'DeployMlp',
    'DeployAttention', 'DeploySwiftFormerEncoder', 'DeployDownsample'
]


def switch_to_deploy(model: nn.Module,
                     fuse_other_conv_bn: bool = False) -> nn.Module:
    """Convert every SwiftFormer backbone inside ``model`` to its deploy
    form, in place, and return ``model`` (in eval mode).

    Args:
        model (nn.Module): A :class:`SwiftFormer`, or any module containing
            some (an mmdet detector, an mmseg segmentor, ...).
        fuse_other_conv_bn (bool): Also fold conv -> BN pairs in the rest of
            the model (necks, heads) with :func:`mmcv.cnn.fuse_conv_bn`,
            which pairs a BN with the conv registered just before it; check
            the outputs when enabling it on a new head. Defaults to False.

    Returns:
        nn.Module: ``model``, converted.
    """
    found = [m for m in model.modules() if isinstance(m, SwiftFormer)]
    if not found:
        raise ValueError(
            f'{type(model).__name__} contains no SwiftFormer backbone')
    model.eval()
    for backbone in found:
        backbone.switch_to_deploy()
    if fuse_other_conv_bn:
        from mmcv.cnn import fuse_conv_bn
        fuse_conv_bn(model)
    return model


def is_deploy_state_dict(state_dict, prefix: Optional[str] = '') -> bool:
    """Whether a (converted, backbone-level) state dict is in deploy form."""
    return any(k.startswith(prefix) and k.endswith('.attn.qk.weight')
               for k in state_dict)


def fuse_state_dict(state_dict: Dict[str, torch.Tensor],
                    attn_formula: Optional[str] = None,
                    meta: Optional[dict] = None
                    ) -> Tuple[Dict[str, torch.Tensor], dict]:
    """Return ``state_dict`` with its SwiftFormer tensors in deploy form, and
    what was found (``arch``, ``format``, ``attn_formula``).

    ``state_dict`` is an OpenMMLab model's (backbone under ``backbone.``;
    every other tensor is kept as it is) or a bare backbone / classification
    state dict in any layout the backbone loads (heads are dropped).
    """
    prefix = 'backbone.' if any(k.startswith('backbone.')
                                for k in state_dict) else ''
    backbone, fmt = convert_swiftformer_state_dict(
        state_dict, prefix=prefix.rstrip('.') or None)
    if is_deploy_state_dict(backbone):
        raise CheckpointError('the checkpoint is already in deploy form')
    arch = infer_arch(backbone)
    if arch is None:
        raise CheckpointError('could not infer the SwiftFormer arch')
    attn_formula = (attn_formula or (meta or {}).get('attn_formula')
                    or FORMAT_ATTN_FORMULA.get(fmt, 'current'))
    stage_idx = SwiftFormer.stage_network_indices
    # Output norms are in a dense model's file; a classification file
    # (authors', timm, Hugging Face) has none, and gets none.
    out_indices = tuple(i for i, idx in enumerate(stage_idx)
                        if f'norm{idx}.weight' in backbone)
    # GroupNorm output norms (EfficientFormer's choice) have no statistics.
    gn = any(f'norm{stage_idx[i]}.running_mean' not in backbone
             for i in out_indices)
    model = SwiftFormer(arch, out_indices=out_indices or (0, 1, 2, 3),
                        attn_formula=attn_formula,
                        out_norm_cfg=dict(type='GN', num_groups=1)
                        if gn else None)
    missing, unexpected = model.load_state_dict(backbone, strict=False)
    if not out_indices:
        missing = [k for k in missing if not k.startswith('norm')]
    if missing or unexpected:
        raise CheckpointError(f'backbone tensors do not fit: missing '
                              f'{missing[:5]}, unexpected {unexpected[:5]}')
    fused = {k: v for k, v in model.eval().switch_to_deploy().state_dict(
    ).items() if out_indices or not k.startswith('norm')}
    out = {k: v for k, v in state_dict.items()
           if not k.startswith(prefix)} if prefix else {}
    out.update({prefix + k: v for k, v in fused.items()})
    return out, dict(arch=arch, format=fmt, attn_formula=attn_formula)
