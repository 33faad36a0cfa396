# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Mends for the libraries we build on, where a newer dependency broke them,
and the few torch APIs that differ across the supported torch versions
(2.1 to 2.13). Each says what changed and is applied only where needed.
"""
import importlib
import importlib.util
import os

import torch


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
    if not dependency.WITH_MULTIMODAL or _has_chunking_helper():
        return False  # the transformers mmpretrain was written for
    dependency.WITH_MULTIMODAL = False
    return True


def _has_chunking_helper() -> bool:
    """Whether ``transformers.modeling_utils`` still provides
    ``apply_chunking_to_forward``, read from its source: importing it would
    take seconds and import torchao (which warns) wherever that is
    installed, on every ``import swiftformer_mm``."""
    spec = importlib.util.find_spec('transformers')
    if spec is None or not spec.submodule_search_locations:
        return True  # no transformers: mmpretrain's switch is off anyway
    for folder in spec.submodule_search_locations:
        path = os.path.join(folder, 'modeling_utils.py')
        if os.path.isfile(path):
            with open(path, encoding='utf-8') as f:
                return 'apply_chunking_to_forward' in f.read()
    return False


def register_load_state_dict_pre_hook(module: torch.nn.Module, hook) -> None:
    """``module.register_load_state_dict_pre_hook(hook)``: public since
    torch 2.5; before, the same hook (module first) registers through the
    private ``_register_load_state_dict_pre_hook(hook, with_module=True)``."""
    if hasattr(module, 'register_load_state_dict_pre_hook'):
        module.register_load_state_dict_pre_hook(hook)
    else:
        module._register_load_state_dict_pre_hook(hook, with_module=True)


def is_compiling() -> bool:
    """Whether torch.compile/export is tracing: ``torch.compiler.
    is_compiling`` since torch 2.3, ``torch._dynamo.is_compiling`` before."""
    compiler = getattr(torch, 'compiler', None)
    if compiler is not None and hasattr(compiler, 'is_compiling'):
        return compiler.is_compiling()
    return torch._dynamo.is_compiling()
