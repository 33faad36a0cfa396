# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Deploy-time fusion of SwiftFormer backbones.

:func:`switch_to_deploy` turns every :class:`~swiftformer_mm.models.SwiftFormer`
inside a model (a bare backbone, a detector, a segmentor) into its inference
form, in place:

* every BatchNorm is folded into a neighbouring conv/linear: conv -> BN in the
  stem, the downsamples and the conv blocks (``dwconv``), and BN -> 1x1 conv in
  the attention block's MLP (``norm1`` precedes ``fc1``; exact because ``fc1``
  is 1x1 with no padding);
* every layer scale is folded into the layer before it (``layer_scale`` into
  ``pwconv2``, ``layer_scale_1`` into ``attn.final``, ``layer_scale_2`` into
  ``fc2``);
* ``to_query`` and ``to_key`` become one matmul (``attn.qk``), the attention
  scale is folded into ``w_g``, and what becomes identity (norms, drop path,
  dropout) is dropped.

The output norms ``norm0/2/4/6`` are kept: they follow a residual sum and have
nothing to fold into (they cost one per-channel affine per stage).

All folding is done in float64 and cast back, so the deploy form matches the
training form (eval mode, same weights) to float32 rounding. The deploy form
is for inference only: it has no BatchNorm to train and no drop path.
"""
from typing import Optional

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from .models.swiftformer import (ConvEncoder, Downsample,
                                 EfficientAdditiveAttention, SwiftFormer,
                                 SwiftFormerEncoder, _is_channels_last,
                                 _l2_normalize, _use_fast_path, pointwise_mlp)

__all__ = [
    'switch_to_deploy', 'deploy_swiftformer_', 'DeployConvEncoder',
    'DeployMlp', 'DeployAttention', 'DeploySwiftFormerEncoder',
    'DeployDownsample'
]


# --------------------------------------------------------------- folding math
def _bn_scale_shift(bn: nn.Module):
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


def _weight_bias(layer: nn.Module):
    w = layer.weight.detach().double()
    b = (layer.bias.detach().double() if layer.bias is not None else
         torch.zeros(w.shape[0], dtype=torch.float64, device=w.device))
    return w, b


def _set(layer: nn.Module, w: torch.Tensor, b: torch.Tensor) -> nn.Module:
    """Write float64 ``w``/``b`` back into ``layer`` (dtype preserved)."""
    dtype = layer.weight.dtype
    layer.weight = nn.Parameter(w.to(dtype), requires_grad=False)
    layer.bias = nn.Parameter(b.to(dtype), requires_grad=False)
    return layer


def fold_bn_after(conv: nn.Module, bn: nn.Module) -> nn.Module:
    """``bn(conv(x))`` -> ``conv'(x)``; ``conv`` is updated and returned."""
    scale, shift = _bn_scale_shift(bn)
    w, b = _weight_bias(conv)
    shape = (-1, ) + (1, ) * (w.dim() - 1)
    return _set(conv, w * scale.view(shape), b * scale + shift)


def fold_bn_before(bn: nn.Module, layer: nn.Module) -> nn.Module:
    """``layer(bn(x))`` -> ``layer'(x)`` for a 1x1 conv or a linear layer.

    Exact only when ``layer`` mixes channels pointwise (no spatial kernel, so
    no zero padding would see the BN shift).
    """
    if isinstance(layer, nn.Conv2d) and (layer.kernel_size != (1, 1)
                                         or layer.groups != 1):
        raise ValueError('a BN before a conv folds exactly only into a 1x1, '
                         f'ungrouped conv, got {layer}')
    scale, shift = _bn_scale_shift(bn)
    w, b = _weight_bias(layer)
    w2d = w.flatten(1)
    bias = b + w2d @ shift
    w = (w2d * scale.unsqueeze(0)).view_as(w)
    return _set(layer, w, bias)


def fold_scale_after(layer: nn.Module, scale: torch.Tensor) -> nn.Module:
    """``scale * layer(x)`` (per output channel) -> ``layer'(x)``."""
    s = scale.detach().double().flatten()
    w, b = _weight_bias(layer)
    shape = (-1, ) + (1, ) * (w.dim() - 1)
    return _set(layer, w * s.view(shape), b * s)


def _linear_as_conv1x1(linear: nn.Linear) -> nn.Conv2d:
    conv = nn.Conv2d(linear.in_features, linear.out_features, 1)
    w, b = _weight_bias(linear)
    return _set(conv, w[:, :, None, None], b)


def _new_like(layer: nn.Module, module: nn.Module) -> nn.Module:
    p = layer.weight
    return module.to(device=p.device, dtype=p.dtype)


# ----------------------------------------------------------- deploy modules
class DeployConvEncoder(nn.Module):
    """Fused :class:`ConvEncoder`:
    ``x + pwconv2(GELU(pwconv1(dwconv(x))))`` with the BN folded into the
    depthwise conv and the layer scale folded into ``pwconv2``."""

    def __init__(self, dim: int, hidden_dim: int):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.pwconv1 = nn.Conv2d(dim, hidden_dim, 1)
        self.act = nn.GELU()
        self.pwconv2 = nn.Conv2d(hidden_dim, dim, 1)

    @classmethod
    def fuse(cls, block: ConvEncoder) -> 'DeployConvEncoder':
        new = _new_like(block.dwconv,
                        cls(block.dwconv.in_channels,
                            block.pwconv1.out_channels))
        new.act = block.act
        new.dwconv = fold_bn_after(block.dwconv, block.norm)
        new.pwconv1 = block.pwconv1
        new.pwconv2 = fold_scale_after(block.pwconv2, block.layer_scale)
        return new

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x)
        if _use_fast_path(x):
            return pointwise_mlp(y, x, self.pwconv1.weight, self.pwconv1.bias,
                                 self.act, self.pwconv2.weight,
                                 self.pwconv2.bias)
        return x + self.pwconv2(self.act(self.pwconv1(y)))


class DeployMlp(nn.Module):
    """Fused MLP branch: ``fc2(GELU(fc1(x)))`` with ``norm1`` folded into
    ``fc1`` and ``layer_scale_2`` into ``fc2``; the residual is added by
    :class:`DeploySwiftFormerEncoder`."""

    def __init__(self, dim: int, hidden_dim: int):
        super().__init__()
        self.fc1 = nn.Conv2d(dim, hidden_dim, 1)
        self.act = nn.GELU()
        self.fc2 = nn.Conv2d(hidden_dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class DeployAttention(nn.Module):
    """Fused :class:`EfficientAdditiveAttention` in channels-first layout.

    ``qk`` is ``to_query`` and ``to_key`` stacked into one (2C, C) matmul,
    ``w_g`` carries the ``C^-0.5`` scale, ``final`` carries
    ``layer_scale_1``. The legacy formula's attention weights are all ones,
    so its deploy form sums the query tokens directly.
    """

    def __init__(self, dim: int, attn_formula: str = 'current'):
        super().__init__()
        self.attn_formula = attn_formula
        self.qk = nn.Linear(dim, 2 * dim)
        self.w_g = nn.Parameter(torch.zeros(dim, 1), requires_grad=False)
        self.proj = nn.Linear(dim, dim)
        self.final = nn.Linear(dim, dim)

    @classmethod
    def fuse(cls, attn: EfficientAdditiveAttention,
             layer_scale: torch.Tensor) -> 'DeployAttention':
        dim = attn.to_query.in_features
        new = _new_like(attn.to_query, cls(dim, attn.attn_formula))
        wq, bq = _weight_bias(attn.to_query)
        wk, bk = _weight_bias(attn.to_key)
        _set(new.qk, torch.cat([wq, wk]), torch.cat([bq, bk]))
        new.w_g = nn.Parameter(
            (attn.w_g.detach().double() * attn.scale).to(attn.w_g.dtype),
            requires_grad=False)
        new.proj = attn.proj
        new.final = fold_scale_after(attn.final, layer_scale)
        return new

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if _use_fast_path(x) and _is_channels_last(x):
            return self._forward_channels_last(x)
        B, C, H, W = x.shape
        tokens = x.flatten(2)  # (B, C, N)
        qk = torch.matmul(self.qk.weight, tokens) + self.qk.bias.unsqueeze(-1)
        query = _l2_normalize(qk[:, :C], dim=1)
        key = _l2_normalize(qk[:, C:], dim=1)
        if self.attn_formula == 'current':
            scores = torch.matmul(self.w_g.t(), query)  # (B, 1, N)
            weights = _l2_normalize(scores, dim=2)
            global_query = (weights * query).sum(dim=2, keepdim=True)
        else:  # legacy: softmax over a size-1 axis, every weight is 1
            global_query = query.sum(dim=2, keepdim=True)
        out = torch.matmul(self.proj.weight, global_query * key)
        out = out + self.proj.bias.unsqueeze(-1) + query
        out = torch.matmul(self.final.weight, out)
        return (out + self.final.bias.unsqueeze(-1)).view(B, C, H, W)


    def _forward_channels_last(self, x: torch.Tensor) -> torch.Tensor:
        """Same math on (B, N, C) token rows of a channels_last tensor."""
        B, C, H, W = x.shape
        tokens = x.permute(0, 2, 3, 1).reshape(B, H * W, C)  # a view
        qk = torch.addmm(self.qk.bias, tokens.reshape(-1, C),
                         self.qk.weight.t()).view(B, H * W, 2 * C)
        query = _l2_normalize(qk[..., :C], dim=2)
        key = _l2_normalize(qk[..., C:], dim=2)
        if self.attn_formula == 'current':
            weights = _l2_normalize(torch.matmul(query, self.w_g), dim=1)
            global_query = (weights * query).sum(dim=1, keepdim=True)
        else:
            global_query = query.sum(dim=1, keepdim=True)
        out = torch.addmm(self.proj.bias, (global_query * key).view(-1, C),
                          self.proj.weight.t())
        out = torch.addmm(self.final.bias, out.add_(query.reshape(-1, C)),
                          self.final.weight.t())
        return out.view(B, H, W, C).permute(0, 3, 1, 2)


class DeploySwiftFormerEncoder(nn.Module):
    """Fused :class:`SwiftFormerEncoder`:
    ``x = local(x); x = x + attn(x); x = x + linear(x)``."""

    def __init__(self, local_representation: DeployConvEncoder,
                 attn: DeployAttention, linear: DeployMlp):
        super().__init__()
        self.local_representation = local_representation
        self.attn = attn
        self.linear = linear

    @classmethod
    def fuse(cls, block: SwiftFormerEncoder) -> 'DeploySwiftFormerEncoder':
        mlp = block.linear
        linear = _new_like(
            mlp.fc1, DeployMlp(mlp.fc1.in_channels, mlp.fc1.out_channels))
        linear.act = mlp.act
        linear.fc1 = fold_bn_before(mlp.norm1, mlp.fc1)
        linear.fc2 = fold_scale_after(mlp.fc2, block.layer_scale_2)
        return cls(
            DeployConvEncoder.fuse(block.local_representation),
            DeployAttention.fuse(block.attn, block.layer_scale_1), linear)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.local_representation(x)
        x = x + self.attn(x)
        if _use_fast_path(x):
            mlp = self.linear
            return pointwise_mlp(x, x, mlp.fc1.weight, mlp.fc1.bias, mlp.act,
                                 mlp.fc2.weight, mlp.fc2.bias)
        return x + self.linear(x)


class DeployDownsample(nn.Module):
    """Fused :class:`Downsample`: one stride-2 conv with the BN folded in."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, out_channels, 3, stride=2,
                              padding=1)

    @classmethod
    def fuse(cls, down: Downsample) -> 'DeployDownsample':
        new = cls.__new__(cls)
        nn.Module.__init__(new)
        new.proj = fold_bn_after(down.proj, down.norm)
        return new

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


# --------------------------------------------------------------- conversion
def _fuse_block(block: nn.Module) -> nn.Module:
    if isinstance(block, SwiftFormerEncoder):
        return DeploySwiftFormerEncoder.fuse(block)
    if isinstance(block, ConvEncoder):
        return DeployConvEncoder.fuse(block)
    raise TypeError(f'unexpected SwiftFormer block {type(block).__name__}')


@torch.no_grad()
def deploy_swiftformer_(backbone: SwiftFormer) -> SwiftFormer:
    """Convert one :class:`SwiftFormer` to its deploy form, in place.

    Prefer :meth:`SwiftFormer.switch_to_deploy` (which calls this) or
    :func:`switch_to_deploy`.
    """
    if getattr(backbone, 'deploy', False):
        return backbone
    stem = backbone.patch_embed
    fold_bn_after(stem[0], stem[1])
    fold_bn_after(stem[3], stem[4])
    stem[1], stem[4] = nn.Identity(), nn.Identity()
    for idx, layer in enumerate(backbone.network):
        if idx % 2:
            backbone.network[idx] = DeployDownsample.fuse(layer)
        else:
            for j, block in enumerate(layer):
                layer[j] = _fuse_block(block)
    for p in backbone.parameters():
        p.requires_grad = False
    backbone.deploy = True
    backbone.with_cp = False
    return backbone


def switch_to_deploy(model: nn.Module,
                     fuse_other_conv_bn: bool = False) -> nn.Module:
    """Convert every SwiftFormer backbone inside ``model`` to its deploy
    form, in place, and return ``model`` (in eval mode).

    Args:
        model (nn.Module): A :class:`SwiftFormer`, or any module containing
            some (an mmdet detector, an mmseg segmentor, ...).
        fuse_other_conv_bn (bool): Also fold conv -> BN pairs in the rest of
            the model (necks, heads) with :func:`mmcv.cnn.fuse_conv_bn`,
            which pairs a BN with the conv registered just before it; check
            the outputs when enabling it on a new head. Defaults to False.

    Returns:
        nn.Module: ``model``, converted.
    """
    found = [m for m in model.modules() if isinstance(m, SwiftFormer)]
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


def is_deploy_state_dict(state_dict, prefix: Optional[str] = '') -> bool:
    """Whether a (converted, backbone-level) state dict is in deploy form."""
    return any(k.startswith(prefix) and k.endswith('.attn.qk.weight')
               for k in state_dict)
