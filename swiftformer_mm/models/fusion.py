# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Folding: SwiftFormer's training form -> its fused inference form.

Every BatchNorm and layer scale is folded into a neighbouring conv or linear
layer (the arithmetic at the top of this file, which each block's
``switch_to_deploy()`` in :mod:`.blocks` uses to build its fused twin), and
what becomes identity (norms, drop path, dropout) is dropped:

* conv -> BN in the stem, the downsamples and the conv blocks (``dwconv``),
  and BN -> 1x1 conv in the attention block's MLP (``norm1`` precedes
  ``fc1``; exact because ``fc1`` is 1x1 with no padding);
* ``layer_scale`` into ``pwconv2``, ``layer_scale_1`` into ``attn.final``,
  ``layer_scale_2`` into ``fc2``;
* ``to_query`` and ``to_key`` become one matmul (``attn.qk``) and the
  attention scale is folded into ``w_g``.

Every fold is computed in float64 and cast back to the layer's dtype, so a
fused model matches its training form (eval mode, same weights) to float32
rounding.

Training weights become folded weights in one place,
:func:`fold_training_weights`; everything that folds a model or its weights
goes through it or through the backbone's own ``switch_to_deploy()``:

* :func:`switch_to_deploy`: every SwiftFormer inside a model (a detector, a
  segmentor, a classifier), in place;
* :func:`fuse_training_weights_on_load`: the load hook that lets a
  ``deploy=True`` backbone load training-form weights (and so
  ``init_weights()`` with a training-form ``Pretrained`` file);
* :func:`~.fused_checkpoint.fuse_state_dict`: a checkpoint's tensors
  (``tools/model_converters/deploy_checkpoint.py``).

The backbone is recognised by what it can do (``training_twin()``), not by
its class: this module is imported by the backbone's own.
"""
from typing import Dict, List, Optional, Tuple

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


def fold_training_weights(backbone: nn.Module,
                          state_dict: Dict[str, torch.Tensor]
                          ) -> Tuple[Dict[str, torch.Tensor], List[str],
                                     List[str]]:
    """Training weights -> folded weights: the one place where that happens.

    A training-form twin of ``backbone`` (a SwiftFormer in either form: only
    its structure is used) is built, ``state_dict`` (training-form,
    backbone-level keys) is loaded into it (``strict=False``), the twin is
    folded (eval-mode BN statistics) and its state dict is returned, with the
    keys the load found missing and unexpected (the caller decides what an
    incomplete file means; tensors of a wrong shape raise here).
    """
    device = next(backbone.parameters()).device
    twin = backbone.training_twin().to(device)
    missing, unexpected = twin.load_state_dict(state_dict, strict=False)
    folded = twin.eval().switch_to_deploy().state_dict()
    return folded, list(missing), list(unexpected)


def fuse_training_weights_on_load(module: nn.Module, state_dict: dict,
                                  prefix: str, *args) -> None:
    """Load-state-dict pre-hook of a deploy-form SwiftFormer: training-form
    weights under ``prefix`` (recognised by their layer scales) are replaced
    in ``state_dict`` by :func:`fold_training_weights`, so that
    ``deploy=True`` models load any OpenMMLab checkpoint of this backbone.

    An incomplete set of training-form weights is left as it is, to be
    reported as missing/unexpected keys by the loader.
    """
    if not module.deploy:
        return
    keys = [k for k in state_dict if k.startswith(prefix)]
    if not any(k.endswith('.layer_scale_1') for k in keys):
        return
    incoming = {k[len(prefix):]: state_dict[k] for k in keys}
    folded, missing, _ = fold_training_weights(module, incoming)
    out_norms = tuple(f'norm{i}.' for i in module.stage_network_indices)
    if any(not k.startswith(out_norms) for k in missing):
        return
    for k in keys:
        del state_dict[k]
    for k, v in folded.items():
        if k.startswith(out_norms) and k in missing:
            continue  # not in the file: let the loader report it
        state_dict[prefix + k] = v


def is_deploy_state_dict(state_dict, prefix: Optional[str] = '') -> bool:
    """Whether a (converted, backbone-level) state dict is in deploy form."""
    return any(k.startswith(prefix) and k.endswith('.attn.qk.weight')
               for k in state_dict)


def switch_to_deploy(model: nn.Module,
                     fuse_other_conv_bn: bool = False) -> nn.Module:
    """Convert every SwiftFormer backbone inside ``model`` to its deploy
    form, in place, and return ``model`` (in eval mode).

    Args:
        model (nn.Module): A SwiftFormer, or any module containing some (an
            mmdet detector, an mmseg segmentor, an mmpretrain classifier).
        fuse_other_conv_bn (bool): Also fold conv -> BN pairs in the rest of
            the model (necks, heads) with :func:`mmcv.cnn.fuse_conv_bn`,
            which pairs a BN with the conv registered just before it; check
            the outputs when enabling it on a new head. Defaults to False.

    Returns:
        nn.Module: ``model``, converted.
    """
    found = [m for m in model.modules()
             if callable(getattr(m, 'training_twin', None))]
    if not found:
        raise ValueError(
            f'{type(model).__name__} contains no SwiftFormer backbone')
    model.eval()
    for backbone in found:
        backbone.switch_to_deploy()
    if fuse_other_conv_bn:
        from mmcv.cnn import fuse_conv_bn
        fuse_conv_bn(model)
    return model
