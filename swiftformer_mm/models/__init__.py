# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
import importlib

from ..checkpoint import (convert_swiftformer_state_dict, detect_format,
                          infer_arch)
from .swiftformer import SwiftFormer

__all__ = [
    'SwiftFormer', 'convert_swiftformer_state_dict', 'detect_format',
    'infer_arch'
]


def _register_backbones() -> None:
    """Register the backbone in mmdet's and mmseg's MODELS registries.

    Registering in both (rather than in a registry of our own) is what makes
    ``type='SwiftFormer'`` resolve under either default scope, and the scoped
    ``'mmdet.SwiftFormer'`` / ``'mmseg.SwiftFormer'`` from anywhere. Either
    library may be absent; the backbone then serves the other one.
    """
    for registry_module in ('mmdet.registry', 'mmseg.registry'):
        try:
            registry = importlib.import_module(registry_module).MODELS
        except ImportError:
            continue
        if registry.module_dict.get('SwiftFormer') is not SwiftFormer:
            registry.register_module(module=SwiftFormer)


_register_backbones()
