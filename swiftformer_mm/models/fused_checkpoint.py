# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""A checkpoint's SwiftFormer tensors in folded (deploy) form, for
``tools/model_converters/deploy_checkpoint.py``.

The folding itself is :func:`.fusion.fold_training_weights`; this module only
finds, in a checkpoint of any layout, the backbone the tensors belong to.
(It is apart from :mod:`.fusion` because it builds a :class:`SwiftFormer`,
whose module imports :mod:`.fusion`.)
"""
from typing import Dict, Optional, Tuple

import torch

from ..checkpoint import (FORMAT_ATTN_FORMULA, CheckpointError,
                          convert_swiftformer_state_dict, infer_arch)
from .fusion import fold_training_weights, is_deploy_state_dict
from .swiftformer import SwiftFormer


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
    structure = SwiftFormer(arch, out_indices=out_indices or (0, 1, 2, 3),
                            attn_formula=attn_formula,
                            out_norm_cfg=dict(type='GN', num_groups=1)
                            if gn else None)
    folded, missing, unexpected = fold_training_weights(structure, backbone)
    if not out_indices:
        missing = [k for k in missing if not k.startswith('norm')]
    if missing or unexpected:
        raise CheckpointError(f'backbone tensors do not fit: missing '
                              f'{missing[:5]}, unexpected {unexpected[:5]}')
    folded = {k: v for k, v in folded.items()
              if out_indices or not k.startswith('norm')}
    out = {k: v for k, v in state_dict.items()
           if not k.startswith(prefix)} if prefix else {}
    out.update({prefix + k: v for k, v in folded.items()})
    return out, dict(arch=arch, format=fmt, attn_formula=attn_formula)
