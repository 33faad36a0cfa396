# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Gradient checkpointing of one block, with BatchNorm statistics updated
once per step (``SwiftFormer(with_cp=True)``)."""
import contextlib

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from torch.nn.modules.batchnorm import _BatchNorm


@contextlib.contextmanager
def bn_statistics_frozen(module: nn.Module):
    """Keep BatchNorm running statistics unchanged inside the block.

    Gradient checkpointing runs each block's forward a second time during
    backward; without this, every BN in it would update its running mean and
    variance twice per step.
    """
    bns = [m for m in module.modules()
           if isinstance(m, _BatchNorm) and m.training
           and m.track_running_stats]
    saved = [(m.momentum, m.num_batches_tracked.clone()) for m in bns]
    for m in bns:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, (momentum, tracked) in zip(bns, saved):
            m.momentum = momentum
            m.num_batches_tracked.copy_(tracked)


def checkpointed(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``block(x)``, recomputed in backward instead of storing activations;
    the recomputation leaves BN statistics alone."""
    return cp.checkpoint(
        block, x, use_reentrant=False,
        context_fn=lambda: (contextlib.nullcontext(),
                            bn_statistics_frozen(block)))
