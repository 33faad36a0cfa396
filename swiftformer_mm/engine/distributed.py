# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Distributed training on machines without CUDA (gloo), and the SyncBN rule."""

import torch
from mmengine.config import Config
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS

SYNC_BN_TYPES = ('SyncBN', 'MMSyncBN', 'TorchSyncBN')


def _find_norm_types(node, path='model'):
    """Yield (path, dict) for every dict in ``node`` whose type is SyncBN."""
    if isinstance(node, dict):
        if node.get('type') in SYNC_BN_TYPES:
            yield path, node
        for k, v in node.items():
            yield from _find_norm_types(v, f'{path}.{k}')
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            yield from _find_norm_types(v, f'{path}[{i}]')


@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` for CPU modules: the Runner passes
    ``device_ids=[LOCAL_RANK]``, which DDP rejects for CPU modules."""

    def __init__(self, module, device_ids=None, **kwargs):
        super().__init__(module=module, device_ids=None, **kwargs)


def setup_distributed(cfg: Config, launcher: str) -> None:
    """Prepare ``cfg`` for a distributed run on a machine without CUDA.

    mmengine's pytorch launcher calls ``torch.cuda.set_device`` and the
    Runner wraps the model with ``device_ids=[LOCAL_RANK]``; neither works on
    CPU. Here the process group is initialised with gloo, the model wrapper
    drops ``device_ids``, and SyncBN (which torch runs on GPUs only) is
    refused before anything is built, unless ``revert_sync_bn=True`` asks
    for per-process BatchNorm instead.
    """
    if launcher == 'none':
        return
    if torch.cuda.is_available():
        return
    sync_bns = list(_find_norm_types(cfg.get('model', {})))
    if sync_bns:
        if not cfg.get('revert_sync_bn', False):
            raise RuntimeError(
                f'the config uses SyncBN ({", ".join(p for p, _ in sync_bns)}'
                '), which torch runs on GPUs only; this distributed run has '
                'no CUDA (torch would fail at the first training step with '
                '"SyncBatchNorm expected input tensor to be on GPU"). Set '
                "norm_cfg=dict(type='BN') in the config, or add --cfg-options"
                ' revert_sync_bn=True to use per-process BatchNorm (batch '
                'statistics are then not synchronised across processes).')
        for _, node in sync_bns:
            node['type'] = 'BN'
    if cfg.get('sync_bn'):
        raise RuntimeError("cfg.sync_bn converts BN to SyncBN, which needs "
                           'GPUs; remove it for a CPU run')
    env_cfg = dict(cfg.get('env_cfg') or {})
    env_cfg['dist_cfg'] = dict(env_cfg.get('dist_cfg') or {}, backend='gloo')
    cfg.env_cfg = env_cfg
    if launcher == 'pytorch':
        import torch.distributed as torch_dist
        if not torch_dist.is_initialized():
            kwargs = dict(env_cfg['dist_cfg'])
            kwargs.pop('backend')
            timeout = kwargs.pop('timeout', None)
            if timeout is not None:
                import datetime
                kwargs['timeout'] = datetime.timedelta(seconds=timeout)
            torch_dist.init_process_group(backend='gloo', **kwargs)
    wrapper = cfg.get('model_wrapper_cfg') or {}
    if wrapper.get('type', 'MMDistributedDataParallel') != \
            'MMDistributedDataParallel':
        raise RuntimeError(
            f"model_wrapper_cfg type {wrapper.get('type')} is not supported "
            'for CPU distributed training by tools/train.py')
    cfg.model_wrapper_cfg = dict(wrapper, type='CPUDistributedDataParallel')
