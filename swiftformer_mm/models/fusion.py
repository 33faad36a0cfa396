# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""The arithmetic of deploy-time fusion: folding a BatchNorm or a per-channel
scale into the conv or linear layer next to it.

Every fold is computed in float64 and cast back to the layer's dtype, so a
fused block matches its training form (eval mode, same weights) to float32
rounding. The blocks in :mod:`.blocks` use these to build their fused twins;
:func:`fuse_training_weights_on_load` lets a fused backbone load
training-form weights.
"""
import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm


def bn_scale_shift(bn: nn.Module):
    """Eval-mode BN as ``y = scale * x + shift`` (float64, per channel)."""
    if not isinstance(bn, _BatchNorm) or bn.running_mean is None:
        raise TypeError(
            f'only BatchNorm with running statistics can be folded, got '
            f'{type(bn).__name__}; the deploy form needs BN (norm_cfg '
            "type 'BN' or 'SyncBN')")
    var = bn.running_var.double()
    scale = torch.rsqrt(var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight.double()
    shift = -bn.running_mean.double() * scale
    if bn.bias is not None:
        shift = shift + bn.bias.double()
    return scale, shift


def weight_bias(layer: nn.Module):
    """``layer``'s weight and bias in float64 (a zero bias if it has none)."""
    w = layer.weight.detach().double()
    b = (layer.bias.detach().double() if layer.bias is not None else
         torch.zeros(w.shape[0], dtype=torch.float64, device=w.device))
    return w, b


def set_weight_bias(layer: nn.Module, w: torch.Tensor,
                    b: torch.Tensor) -> nn.Module:
    """Write float64 ``w``/``b`` back into ``layer`` (its dtype kept)."""
    dtype = layer.weight.dtype
    layer.weight = nn.Parameter(w.to(dtype), requires_grad=False)
    layer.bias = nn.Parameter(b.to(dtype), requires_grad=False)
    return layer


def fold_bn_after(conv: nn.Module, bn: nn.Module) -> nn.Module:
    """``bn(conv(x))`` -> ``conv'(x)``; ``conv`` is updated and returned."""
    scale, shift = bn_scale_shift(bn)
    w, b = weight_bias(conv)
    shape = (-1, ) + (1, ) * (w.dim() - 1)
    return set_weight_bias(conv, w * scale.view(shape), b * scale + shift)


def fold_bn_before(bn: nn.Module, layer: nn.Module) -> nn.Module:
    """``layer(bn(x))`` -> ``layer'(x)`` for a 1x1 conv or a linear layer.

    Exact only when ``layer`` mixes channels pointwise (no spatial kernel, so
    no zero padding would see the BN shift).
    """
    if isinstance(layer, nn.Conv2d) and (layer.kernel_size != (1, 1)
                                         or layer.groups != 1):
        raise ValueError('a BN before a conv folds exactly only into a 1x1, '
                         f'ungrouped conv, got {layer}')
    scale, shift = bn_scale_shift(bn)
    w, b = weight_bias(layer)
    w2d = w.flatten(1)
    bias = b + w2d @ shift
    w = (w2d * scale.unsqueeze(0)).view_as(w)
    return set_weight_bias(layer, w, bias)


def fold_scale_after(layer: nn.Module, scale: torch.Tensor) -> nn.Module:
    """``scale * layer(x)`` (per output channel) -> ``layer'(x)``."""
    s = scale.detach().double().flatten()
    w, b = weight_bias(layer)
    shape = (-1, ) + (1, ) * (w.dim() - 1)
    return set_weight_bias(layer, w * s.view(shape), b * s)


def like(reference: nn.Module, module: nn.Module) -> nn.Module:
    """``module`` moved to ``reference``'s device and dtype."""
    p = reference.weight
    return module.to(device=p.device, dtype=p.dtype)


def fuse_training_weights_on_load(module: nn.Module, state_dict: dict,
                                  prefix: str, *args) -> None:
    """Load-state-dict pre-hook of a deploy-form SwiftFormer: training-form
    weights under ``prefix`` (recognised by their layer scales) are loaded
    into a training-form twin, fused, and replaced in ``state_dict``, so that
    ``deploy=True`` models load any OpenMMLab checkpoint of this backbone.

    An incomplete set of training-form weights is left as it is, to be
    reported as missing/unexpected keys by the loader.
    """
    if not module.deploy:
        return
    keys = [k for k in state_dict if k.startswith(prefix)]
    if not any(k.endswith('.layer_scale_1') for k in keys):
        return
    twin = module.training_twin().to(module.patch_embed[0].weight.device)
    incoming = {k[len(prefix):]: state_dict[k] for k in keys}
    missing, _ = twin.load_state_dict(incoming, strict=False)
    out_norms = tuple(f'norm{i}.' for i in module.stage_network_indices)
    if any(not k.startswith(out_norms) for k in missing):
        return
    fused = twin.eval().switch_to_deploy().state_dict()
    for k in keys:
        del state_dict[k]
    for k, v in fused.items():
        if k.startswith(out_norms) and k in missing:
            continue  # not in the file: let the loader report it
        state_dict[prefix + k] = v

