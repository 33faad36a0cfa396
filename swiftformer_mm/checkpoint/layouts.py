# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""The key layouts of published SwiftFormer checkpoints, and how each maps to
this project's names (the authors' names, with ``attn.proj`` spelt lower case).

One table, :data:`RENAME_RULES`, holds every renaming; :func:`detect_format`
names a state dict's layout from its keys; :func:`convert_swiftformer_state_dict`
applies the rules. Nothing here builds a model.

In this naming the trunk is ``patch_embed.*`` (the stem) and ``network.i.*``:
stage ``k`` at ``network.{2k}`` (its blocks ``network.{2k}.j``), the
downsample before stage ``k`` at ``network.{2k-1}``. The classifier of the
authors' file is ``norm.*`` (a BatchNorm on the last stage), ``head.*`` and
``dist_head.*``. An mmpretrain classifier of this backbone (``backbone.*``,
``head.head.*``, ``head.dist_head.*``) keeps that classifier norm as its
backbone's last output norm, ``backbone.norm6``.
"""
import re
from typing import Dict, Optional, Tuple

import torch

from .io import CheckpointError

NUM_STAGES = 4

#: Attention formula each format's published weights were trained with.
#: The authors' files are assumed to be the current release (the README's
#: links since 2023-07); a first-release file needs attn_formula='legacy'.
FORMAT_ATTN_FORMULA = {
    'huggingface': 'legacy',
    'timm': 'current',
}

#: ``(pattern, replacement)`` rules applied in order with ``re.sub``, per
#: layout, to reach this project's names.
RENAME_RULES = {
    'openmmlab': [],
    'mmpretrain': [
        (r'^backbone\.norm6\.', 'norm.'),
        (r'^backbone\.', ''),
        (r'^head\.(head|dist_head)\.', r'\1.'),
    ],
    'authors': [(r'\.attn\.Proj\.', '.attn.proj.')],
    'timm': [
        (r'^stem\.', 'patch_embed.'),
        (r'\.(layer_scale(?:_1|_2)?)\.gamma$', r'.\1'),
        (r'^head_dist\.', 'dist_head.'),
    ] + [(rf'^stages\.{k}\.blocks\.', f'network.{2 * k}.')
         for k in range(NUM_STAGES)]
      + [(rf'^stages\.{k}\.downsample\.', f'network.{2 * k - 1}.')
         for k in range(1, NUM_STAGES)],
    'huggingface': [
        (r'^swiftformer\.', ''),
        (r'^patch_embed\.patch_embedding\.', 'patch_embed.'),
        (r'\.point_wise_conv', '.pwconv'),
        (r'\.depth_wise_conv', '.dwconv'),
        (r'^encoder\.network\.(\d+)\.blocks\.', r'network.\1.'),
        (r'^encoder\.network\.', 'network.'),
    ],
}

#: The classifier's tensors (after renaming): dropped unless ``keep_head``.
HEAD_KEYS = re.compile(r'^(norm|head|dist_head)\.')


def detect_format(keys) -> Optional[str]:
    """Name the layout of a SwiftFormer state dict from its keys."""
    keys = list(keys)
    if any(k.startswith(('head.head.', 'head.dist_head.')) for k in keys) and \
            any(k.startswith('backbone.network.') for k in keys):
        return 'mmpretrain'
    if any(k.startswith(('swiftformer.patch_embed.',
                         'patch_embed.patch_embedding.', 'encoder.network.'))
           for k in keys):
        return 'huggingface'
    if any(k.startswith('stem.') for k in keys) and any(
            k.startswith('stages.') for k in keys):
        return 'timm'
    if any(k.startswith('network.') for k in keys):
        if any('.attn.Proj.' in k for k in keys):
            return 'authors'
        return 'openmmlab'
    return None


def rename_key(key: str, fmt: str) -> str:
    for pattern, replacement in RENAME_RULES[fmt]:
        key = re.sub(pattern, replacement, key)
    return key


def _strip_prefix(state_dict: dict, prefix: str) -> dict:
    prefix = prefix if prefix.endswith('.') else prefix + '.'
    return {k[len(prefix):]: v for k, v in state_dict.items()
            if k.startswith(prefix)}


def convert_swiftformer_state_dict(
        state_dict: Dict[str, torch.Tensor],
        prefix: Optional[str] = None,
        keep_head: bool = False) -> Tuple[Dict[str, torch.Tensor], str]:
    """Map any supported SwiftFormer state dict to this project's names.

    Supported layouts: the authors' release (``patch_embed``, ``network``,
    ``attn.Proj``), Hugging Face (``swiftformer.encoder.network.i.blocks.j``),
    timm (``stem``, ``stages.k.blocks``), mmpretrain classifiers of this
    backbone (``backbone.``, ``head.head``) and other OpenMMLab checkpoints
    of it (inside a detector/segmentor under ``backbone.``, or under
    ``prefix``). The result is in the authors' naming (the classifier, kept
    with ``keep_head``, is ``norm``, ``head``, ``dist_head``).

    Args:
        state_dict (dict): Tensors of the checkpoint.
        prefix (str, optional): Keep only keys under this prefix (e.g.
            ``'backbone'``), with the prefix removed.
        keep_head (bool): Keep the classifier (``norm``, ``head``,
            ``dist_head``; timm's ``head_dist`` renamed) instead of dropping
            it. Defaults to False.

    Returns:
        tuple[dict, str]: The mapped state dict and the detected format.
    """
    if prefix:
        selected = _strip_prefix(state_dict, prefix)
        if not selected:
            raise CheckpointError(
                f'no key of the checkpoint starts with prefix {prefix!r}; its '
                f'first keys are {list(state_dict)[:5]}')
        state_dict = selected
    elif detect_format(state_dict) != 'mmpretrain' and any(
            k.startswith('backbone.') for k in state_dict):
        # A detector or segmentor; an mmpretrain classifier keeps its prefix
        # for its rules, which tell its classifier norm (backbone.norm6).
        state_dict = _strip_prefix(state_dict, 'backbone')
    if state_dict and all(k.startswith('module.') for k in state_dict):
        state_dict = _strip_prefix(state_dict, 'module')  # saved from DDP

    fmt = detect_format(state_dict)
    if fmt is None:
        raise CheckpointError(
            'no SwiftFormer weights recognised in the checkpoint (expected '
            "the authors' 'patch_embed.'/'network.', timm's 'stem.'/"
            "'stages.', Hugging Face's 'swiftformer.encoder.' or an OpenMMLab "
            f"'backbone.' layout); its first keys are {list(state_dict)[:5]}")
    converted = {}
    for key, value in state_dict.items():
        new_key = rename_key(key, fmt)
        if keep_head or not HEAD_KEYS.match(new_key):
            converted[new_key] = value
    return converted, fmt


def infer_arch(state_dict: Dict[str, torch.Tensor]) -> Optional[dict]:
    """Widths and depths of the SwiftFormer in a converted state dict, or
    None where a stage is missing."""
    widths, depths = [], []
    for stage in range(NUM_STAGES):
        idx = 2 * stage
        blocks = {
            int(m.group(1))
            for k in state_dict
            for m in [re.match(rf'^network\.{idx}\.(\d+)\.', k)] if m
        }
        if not blocks:
            return None
        depths.append(max(blocks) + 1)
        last = f'network.{idx}.{max(blocks)}.local_representation.dwconv.weight'
        if last not in state_dict:
            return None
        widths.append(int(state_dict[last].shape[0]))
    return dict(widths=widths, depths=depths)
