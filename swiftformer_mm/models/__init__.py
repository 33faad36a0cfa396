# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
import importlib

from ..checkpoint import (convert_swiftformer_state_dict, detect_format,
                          infer_arch)
from ..compat import mend_mmpretrain_multimodal
from .blocks import (DeployAttention, DeployConvEncoder, DeployDownsample,
                     DeployMlp, DeploySwiftFormerEncoder,
                     efficient_additive_attention)
from .fused_checkpoint import fuse_state_dict
from .fusion import (fold_training_weights, is_deploy_state_dict,
                     switch_to_deploy)
from .loading import adapt_state_dict, load_checkpoint
from .swiftformer import SwiftFormer

__all__ = [
    'SwiftFormer', 'load_checkpoint', 'adapt_state_dict',
    'convert_swiftformer_state_dict', 'detect_format', 'infer_arch',
    'switch_to_deploy', 'fuse_state_dict', 'fold_training_weights',
    'is_deploy_state_dict', 'efficient_additive_attention',
    'DeployConvEncoder', 'DeployMlp', 'DeployAttention',
    'DeploySwiftFormerEncoder', 'DeployDownsample'
]


def _register_backbones() -> None:
    """Register the backbone in mmdet's, mmseg's and mmpretrain's MODELS
    registries.

    Registering in each (rather than in a registry of our own) is what makes
    ``type='SwiftFormer'`` resolve under any of their default scopes, and the
    scoped ``'mmdet.SwiftFormer'`` / ``'mmseg.SwiftFormer'`` /
    ``'mmpretrain.SwiftFormer'`` from anywhere. Any library may be absent;
    the backbone then serves the others.
    """
    mend_mmpretrain_multimodal()
    for registry_module in ('mmdet.registry', 'mmseg.registry',
                            'mmpretrain.registry'):
        try:
            registry = importlib.import_module(registry_module).MODELS
        except ImportError:
            continue
        if registry.module_dict.get('SwiftFormer') is not SwiftFormer:
            registry.register_module(module=SwiftFormer)


_register_backbones()

try:  # the ImageNet classifier, where mmpretrain is installed
    from .classifier import SwiftFormerClassifier  # noqa: F401
    __all__.append('SwiftFormerClassifier')
except ImportError:  # pragma: no cover - mmpretrain is a dependency
    pass
