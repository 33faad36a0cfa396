# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""The runtimes models deploy to, one module each, registered by their
``backend_config.type``: :mod:`.onnxruntime`, :mod:`.openvino`,
:mod:`.executorch`. Each exports, quantizes and loads its models; the
interface is :class:`~.base.DeployBackend`."""
from mmengine.config import Config

from ..errors import DeployError
from .base import DEPLOY_BACKENDS, DeployBackend


def build_backend(deploy_cfg: Config, model_cfg: Config,
                  device: str = 'cpu') -> DeployBackend:
    """The runtime of ``deploy_cfg.backend_config.type``, checked to be
    installed."""
    from . import executorch, onnxruntime, openvino  # noqa: F401  registers
    name = deploy_cfg.get('backend_config', {}).get('type')
    backend = DEPLOY_BACKENDS.get(name) if name else None
    if backend is None:
        gpu = ' and an NVIDIA GPU' if name in ('tensorrt', 'pplnn') else ''
        raise DeployError(
            f'backend {name!r} is not supported here; it needs its own '
            f'runtime{gpu}, which this installation does not have. Use a '
            f'deploy config for one of {sorted(DEPLOY_BACKENDS.module_dict)}'
            ' (configs/deploy/).')
    backend.check_installed()
    return backend(deploy_cfg, model_cfg, device)


__all__ = ['DEPLOY_BACKENDS', 'DeployBackend', 'build_backend']
