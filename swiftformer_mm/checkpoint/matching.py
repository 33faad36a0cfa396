# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Checks that a converted state dict fits the model it is loaded into, each
failure an error that names the problem and the setting that fixes it.

The model calls these after :mod:`.layouts` has renamed the keys, so that a
wrong file fails loudly instead of leaving weights silently random.
"""
from typing import Dict, Optional, Sequence

import torch

from .io import CheckpointError
from .layouts import FORMAT_ATTN_FORMULA, infer_arch


def describe_arch(arch: dict, known: Optional[Dict[str, dict]] = None) -> str:
    """``"'l1' (widths [...], depths [...])"``, or ``custom arch (...)``."""
    for name, setting in (known or {}).items():
        if setting == arch:
            return (f"'{name}' (widths {arch['widths']}, depths "
                    f"{arch['depths']})")
    return f"custom arch (widths {arch['widths']}, depths {arch['depths']})"


def check_attn_formula(path: str, fmt: str, meta: dict,
                       attn_formula: str) -> None:
    """Refuse weights trained with the other attention formula."""
    trained_with = meta.get('attn_formula') or FORMAT_ATTN_FORMULA.get(fmt)
    if trained_with and trained_with != attn_formula:
        raise CheckpointError(
            f'{path} holds {fmt} weights trained with the '
            f"{trained_with!r} attention formula, but the backbone is "
            f"built with attn_formula={attn_formula!r}; the two "
            'compute different attention and the weights would be '
            f"wrong. Set backbone attn_formula='{trained_with}'.")


def select_matching(path: str, fmt: str, state_dict: Dict[str, torch.Tensor],
                    own: Dict[str, torch.Tensor], arch: dict,
                    known_archs: Optional[Dict[str, dict]] = None,
                    optional: Sequence[str] = (),
                    what: str = 'backbone') -> Dict[str, torch.Tensor]:
    """The tensors of ``state_dict`` to load into a model whose state dict is
    ``own``, after checking that the checkpoint is the same arch, that every
    shape fits and that every tensor of the model is there, except those
    whose names start with one of ``optional``.

    Raises:
        CheckpointError: Naming the other arch, the tensors that do not fit,
            or the tensors missing.
    """
    found = infer_arch(state_dict)
    if found is not None and found != arch:
        raise CheckpointError(
            f'{path} holds a SwiftFormer {describe_arch(found, known_archs)}, '
            f'but the {what} is built as {describe_arch(arch, known_archs)}. '
            "Set the backbone's arch to match the checkpoint.")
    mismatched = [
        f'{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}'
        for k, v in state_dict.items()
        if k in own and v.shape != own[k].shape
    ]
    if mismatched:
        raise CheckpointError(
            f'{path}: {len(mismatched)} tensors do not fit the '
            f'{describe_arch(arch, known_archs)} {what}: '
            + '; '.join(mismatched[:5]))
    missing = [k for k in own if k not in state_dict
               and not k.startswith(tuple(optional))]
    if missing:
        matched = len(own) - len(missing)
        raise CheckpointError(
            f'{path} ({fmt} format) lacks {len(missing)} of the '
            f'{len(own)} {what} tensors (matched {matched}), e.g. '
            f'{missing[:5]}. It is not a complete SwiftFormer '
            f'{describe_arch(arch, known_archs)} checkpoint.')
    return {k: v for k, v in state_dict.items() if k in own}
