"""Shared helpers: realistic random weights and checkpoint writers."""
import os

import pytest
import torch
import torch.nn as nn

# Deterministic, quiet CPU runs on the 2-core CI machines.
torch.set_num_threads(min(2, os.cpu_count() or 1))


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


def identity_out_norms(model: nn.Module) -> nn.Module:
    """Replace the backbone's output norms by identities (for comparisons with
    classification implementations, which have none)."""
    for idx in (0, 2, 4, 6):
        if hasattr(model, f'norm{idx}'):
            setattr(model, f'norm{idx}', nn.Identity())
    return model


def authors_state_dict(model: nn.Module) -> dict:
    """``model``'s backbone weights in the authors' release layout: their
    ``Proj`` spelling, plus the classification norm and the two heads that
    their files carry (and loading must drop); no output norms."""
    backbone = {k: v for k, v in model.state_dict().items()
                if not k.startswith('norm')}
    sd = {k.replace('.attn.proj.', '.attn.Proj.'): v
          for k, v in backbone.items()}
    width = model.widths[-1]
    sd.update({'norm.weight': torch.ones(width),
               'norm.bias': torch.zeros(width),
               'norm.running_mean': torch.zeros(width),
               'norm.running_var': torch.ones(width),
               'head.weight': torch.zeros(1000, width),
               'head.bias': torch.zeros(1000),
               'dist_head.weight': torch.zeros(1000, width),
               'dist_head.bias': torch.zeros(1000)})
    return sd


def write_authors_checkpoint(path, arch: str, seed: int = 0) -> dict:
    """Save a SwiftFormer with random weights as the authors do (wrapped in
    ``model``) and return its backbone state dict in this project's names."""
    from swiftformer_mm.models import SwiftFormer
    model = randomize_(SwiftFormer(arch), seed)
    torch.save({'model': authors_state_dict(model)}, str(path))
    return {k: v for k, v in model.state_dict().items()
            if not k.startswith('norm')}


def pipeline_step(pipeline, type_name: str) -> dict:
    """The one transform of type ``type_name`` in a data pipeline."""
    steps = [step for step in pipeline if step['type'] == type_name]
    assert len(steps) == 1, f'expected one {type_name} in {pipeline}'
    return steps[0]


def relative_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    """Max absolute difference over the feature scale (at least 1)."""
    return ((out - ref).abs().max() / ref.abs().max().clamp(min=1)).item()


@pytest.fixture
def rand_image():
    def make(*shape, seed=0):
        return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))
    return make
