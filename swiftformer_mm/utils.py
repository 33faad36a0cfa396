# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Helpers shared by the train/test tools."""
import torch
from mmengine.config import Config

TASKS = ('mmdet', 'mmseg')


def setup_task(cfg: Config) -> str:
    """Return the config's task ('mmdet' or 'mmseg'), checking it is one."""
    task = cfg.get('default_scope')
    if task not in TASKS:
        raise ValueError(
            f"config default_scope is {task!r}; these tools run mmdet or mmseg "
            "configs (inherit one of their bases, which set default_scope)")
    return task


def apply_amp(cfg: Config) -> None:
    """Switch the optimizer wrapper to mixed precision: fp16 with a dynamic
    loss scale on CUDA, bf16 on CPU (CPU autocast supports bf16 only, which
    needs no loss scaling)."""
    wrapper = cfg.optim_wrapper
    if wrapper.get('type', 'OptimWrapper') not in ('OptimWrapper',
                                                   'AmpOptimWrapper'):
        raise ValueError(
            f"--amp works with OptimWrapper, not {wrapper.get('type')}")
    wrapper.type = 'AmpOptimWrapper'
    if torch.cuda.is_available():
        wrapper.setdefault('loss_scale', 'dynamic')
    else:
        wrapper.dtype = 'bfloat16'
