# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Mends for the libraries we build on, where a newer dependency broke them.
Each says what changed and is applied only where the break is present.
"""
import importlib


def mend_mmpretrain_multimodal() -> bool:
    """Keep ``import mmpretrain.models`` working with transformers >= 4.5x.

    mmpretrain 1.2.0 switches on its multimodal models (BLIP, OFA, ...) when
    transformers and pycocotools are both installed (mmdet needs
    pycocotools), and those modules import helpers that newer transformers
    removed (``apply_chunking_to_forward``, ``prune_linear_layer`` from
    ``transformers.modeling_utils``). The import then dies with "TypeError:
    NoneType takes no arguments", and with it every model build in the
    ``mmpretrain`` scope. Where those helpers are gone, the multimodal models
    cannot work anyway, so they are switched off; the image classifiers are
    untouched. Must run before ``mmpretrain.models`` is first imported.

    Returns:
        bool: Whether the mend was applied.
    """
    try:
        dependency = importlib.import_module('mmpretrain.utils.dependency')
    except ImportError:
        return False
    if not dependency.WITH_MULTIMODAL:
        return False
    try:
        from transformers.modeling_utils import \
            apply_chunking_to_forward  # noqa: F401
        return False  # the transformers mmpretrain was written for
    except ImportError:
        dependency.WITH_MULTIMODAL = False
        return True
