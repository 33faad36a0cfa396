# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Random weights that exercise every path of a network, for benchmarks and
tests that compare implementations on the same weights."""
import torch
import torch.nn as nn


@torch.no_grad()
def randomize_(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every parameter and BN statistic a non-trivial random value.

    Fresh models hide bugs: layer scales of 1e-5 silence the attention and the
    MLP, and BN with zero mean and unit variance is an identity. Here layer
    scales are O(1), BN statistics vary per channel, so every path of the
    network shows up in the output.
    """
    gen = torch.Generator().manual_seed(seed)

    def randn(t, std=1.0, mean=0.0):
        t.copy_(torch.randn(t.shape, generator=gen) * std + mean)

    for module in model.modules():
        if isinstance(module, (nn.modules.batchnorm._NormBase, nn.GroupNorm)):
            if module.weight is not None:
                randn(module.weight, 0.1, 1.0)
                randn(module.bias, 0.1)
            if getattr(module, 'running_mean', None) is not None:
                randn(module.running_mean, 0.1)
                module.running_var.copy_(
                    torch.rand(module.running_var.shape, generator=gen) * 0.5
                    + 0.75)
        elif isinstance(module, (nn.Conv2d, nn.Linear)):
            randn(module.weight, module.weight[0].numel()**-0.5)
            if module.bias is not None:
                randn(module.bias, 0.02)
    for name, p in model.named_parameters():
        if 'layer_scale' in name or name.endswith('.gamma'):
            p.copy_(torch.rand(p.shape, generator=gen) * 0.9 + 0.1)
        elif name.endswith('w_g'):
            randn(p)
    return model
