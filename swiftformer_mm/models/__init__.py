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
    'DeploySwiftFormerEncoder', 'DeployDownsample', 'SwiftFormerClassifier'
]


def _build_classifier(**kwargs):
    """Build a :class:`~.classifier.SwiftFormerClassifier`.

    Registered by name in mmpretrain's ``MODELS`` in place of the class, so
    that ``import swiftformer_mm`` does not import ``mmpretrain.models``
    (which imports mmdet's models and transformers' BERT: seconds, and
    torchao with its warnings where that is installed). The class is
    imported when a config first builds one.
    """
    from .classifier import SwiftFormerClassifier
    return SwiftFormerClassifier(**kwargs)


def _register() -> None:
    """Register the backbone in mmdet's, mmseg's and mmpretrain's MODELS
    registries, and the classifier in mmpretrain's.

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
        if registry_module == 'mmpretrain.registry' and registry.module_dict.get(
                'SwiftFormerClassifier') is not _build_classifier:
            registry.register_module(name='SwiftFormerClassifier',
                                     module=_build_classifier)


_register()


def __getattr__(name):
    if name == 'SwiftFormerClassifier':  # imported on first use, see above
        from .classifier import SwiftFormerClassifier
        return SwiftFormerClassifier
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
