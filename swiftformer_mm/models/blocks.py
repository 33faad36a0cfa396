# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""The building blocks of SwiftFormer (paper section 3, Fig. 3), each with its
fused inference twin.

The attention's math is written once, in :func:`efficient_additive_attention`
(the reference); the training form calls it, and the fused forms below (and
the XNNPACK form of :mod:`swiftformer_mm.export.backends.executorch`) are
derived from it and tested against it (``tests/test_fusion.py``).

Training form, in the paper's order:

* :class:`EfficientAdditiveAttention`: the paper's efficient additive
  attention (authors: ``EfficientAdditiveAttnetion``);
* :class:`ConvEncoder`: the conv encoder (depthwise 3x3, BN, 1x1 expand,
  GELU, 1x1 project, layer scale, residual);
* :class:`Mlp` and :class:`SwiftFormerEncoder`: the last block of each stage,
  local representation -> attention -> MLP;
* :class:`Downsample`: the stride-2 conv between stages (authors:
  ``Embedding``).

As in RepVGG and MobileOne, a block knows how to fuse itself:
``switch_to_deploy()`` returns its inference twin (``Deploy*`` below), with every BatchNorm and layer
scale folded into a neighbouring layer (arithmetic in :mod:`.fusion`). On
eager CPU inference some blocks switch to the kernels of :mod:`.cpu_kernels`;
the math is the same.
"""
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer

from .cpu_kernels import (is_channels_last, pointwise_mlp, use_fast_path,
                          use_large_map_fast_path)
from .fusion import (fold_bn_after, fold_bn_before, fold_scale_after, like,
                     set_weight_bias, weight_bias)

try:
    from mmcv.cnn.bricks import DropPath
except ImportError:  # pragma: no cover - very old mmcv
    from mmcv.cnn.bricks.drop import DropPath

ATTN_FORMULAS = ('current', 'legacy')


def validate_attn_formula(attn_formula: str) -> str:
    if attn_formula not in ATTN_FORMULAS:
        raise ValueError(f'attn_formula must be one of {ATTN_FORMULAS}, '
                         f'got {attn_formula!r}')
    return attn_formula


def l2_normalize(x: torch.Tensor, dim: int, eps: float = 1e-12
                 ) -> torch.Tensor:
    """``F.normalize`` computed in fp32.

    The attention normalises over thousands of tokens (about 67k at stride 4 of
    an 800x1344 image); a half-precision sum of squares overflows there, and a
    tiny half-precision norm underflows to zero. fp32 is a no-op in fp32 mode.

    In an ONNX export the same math is written out as a sum of squares,
    square root, clip and division: ``F.normalize`` would become
    ``ReduceL2``, which mobile runtimes often lack (the authors replaced
    ``F.normalize`` for Apple's Neural Engine for the same reason).
    """
    x32 = x.float()
    if torch.onnx.is_in_onnx_export():
        norm = (x32 * x32).sum(dim=dim, keepdim=True).sqrt()
        return (x32 / norm.clamp(min=eps)).to(x.dtype)
    return F.normalize(x32, dim=dim, eps=eps).to(x.dtype)


def efficient_additive_attention(query: torch.Tensor, key: torch.Tensor,
                                 w_g: torch.Tensor,
                                 proj: Callable[[torch.Tensor], torch.Tensor],
                                 final: Callable[[torch.Tensor], torch.Tensor],
                                 attn_formula: str = 'current',
                                 scale: float = 1.) -> torch.Tensor:
    """SwiftFormer's efficient additive attention: the reference.

    The paper's Eq. (4)-(6) (Shaker et al., "SwiftFormer: Efficient Additive
    Attention for Transformer-based Real-time Mobile Vision Applications",
    ICCV 2023, https://arxiv.org/abs/2303.15446), as the authors' code
    computes it, on ``(B, N, C)`` tokens (the paper's ``n x d`` rows):

    * ``Q^, K^``: the query and key, L2-normalised over the channels;
    * Eq. (4): ``a = Q^ w_g * scale`` (``scale = C^-0.5``), one weight per
      token; ``'current'`` L2-normalises ``a`` over the tokens, ``'legacy'``
      takes a softmax over a size-1 axis, so that every weight is exactly 1;
    * Eq. (5): the global query ``g = sum_n a_n Q^_n``, a sum, not a mean
      (its scale depends on the token count, as in the released weights);
    * Eq. (6): ``final(proj(g * K^) + Q^)``, ``proj`` being the paper's
      linear transformation ``T``.

    Args:
        query (Tensor): ``(B, N, C)`` query projections ``X W_q``, before
            the normalisation.
        key (Tensor): ``(B, N, C)`` key projections ``X W_k``, likewise.
        w_g (Tensor): ``(C, 1)`` learnable vector of Eq. (4) (``w_a`` in
            the paper).
        proj, final (callable): The linear layers of Eq. (6), on
            ``(B, N, C)`` tokens.
        attn_formula (str): ``'current'`` or ``'legacy'``.
        scale (float): Scale of Eq. (4); 1 where it is folded into ``w_g``.

    Returns:
        Tensor: ``(B, N, C)``.
    """
    query = l2_normalize(query, dim=-1)
    key = l2_normalize(key, dim=-1)
    scores = (query @ w_g) * scale  # (B, N, 1)
    if attn_formula == 'current':
        weights = l2_normalize(scores, dim=1)
    else:
        # Softmax over the singleton axis, as released: all ones, but it
        # keeps w_g in the autograd graph (zero gradient) so DDP does not
        # report it as an unused parameter.
        weights = scores.softmax(dim=-1)
    global_query = (weights * query).sum(dim=1, keepdim=True)  # (B, 1, C)
    return final(proj(global_query * key) + query)


def _drop_path(rate: float) -> nn.Module:
    return DropPath(rate) if rate > 0 else nn.Identity()


# ------------------------------------------------------------ training form
class EfficientAdditiveAttention(nn.Module):
    """Efficient additive attention (paper Eq. 4-6), on a ``(B, C, H, W)``
    map: :func:`efficient_additive_attention` on its ``H * W`` tokens.

    Args:
        dim (int): Number of channels.
        attn_formula (str): ``'current'`` normalises ``a`` over the tokens (the
            authors' code since 2023-07 and timm). ``'legacy'`` reproduces the
            first release and the Hugging Face hub weights: a softmax over a
            size-1 axis, so every weight is exactly 1.
    """

    def __init__(self, dim: int, attn_formula: str = 'current'):
        super().__init__()
        self.attn_formula = validate_attn_formula(attn_formula)
        self.scale = dim**-0.5
        self.to_query = nn.Linear(dim, dim)
        self.to_key = nn.Linear(dim, dim)
        self.w_g = nn.Parameter(torch.randn(dim, 1))
        self.proj = nn.Linear(dim, dim)
        self.final = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        # Tokens last, (B, N, C): measured on CPU, the linears and the
        # normalisations over contiguous channels are about 3x faster at
        # stride 4 than the same math on channels-first (B, C, N) tokens,
        # which outweighs the two transposes.
        tokens = x.flatten(2).transpose(1, 2)
        out = efficient_additive_attention(
            self.to_query(tokens), self.to_key(tokens), self.w_g, self.proj,
            self.final, self.attn_formula, self.scale)
        return out.transpose(1, 2).reshape(B, C, H, W)

    def switch_to_deploy(self,
                         layer_scale: torch.Tensor) -> 'DeployAttention':
        """The fused twin, with the block's ``layer_scale_1`` folded into
        ``final``; this module's layers are reused (and changed)."""
        dim = self.to_query.in_features
        twin = like(self.to_query, DeployAttention(dim, self.attn_formula))
        wq, bq = weight_bias(self.to_query)
        wk, bk = weight_bias(self.to_key)
        set_weight_bias(twin.qk, torch.cat([wq, wk]), torch.cat([bq, bk]))
        twin.w_g = nn.Parameter(
            (self.w_g.detach().double() * self.scale).to(self.w_g.dtype),
            requires_grad=False)
        twin.proj = self.proj
        twin.final = fold_scale_after(self.final, layer_scale)
        return twin


class ConvEncoder(nn.Module):
    """Conv encoder: depthwise 3x3, norm, 1x1 expand, GELU, 1x1 project,
    per-channel layer scale, residual.

    The SwiftFormer block's ``local_representation`` is this block with
    ``hidden_dim == dim``.
    """

    def __init__(self,
                 dim: int,
                 hidden_dim: int,
                 drop_path: float = 0.,
                 norm_cfg: dict = dict(type='BN')):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.norm = build_norm_layer(norm_cfg, dim)[1]
        self.pwconv1 = nn.Conv2d(dim, hidden_dim, 1)
        self.act = nn.GELU()
        self.pwconv2 = nn.Conv2d(hidden_dim, dim, 1)
        self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1))
        self.drop_path = _drop_path(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(self.dwconv(x))
        if not self.training and use_large_map_fast_path(x):
            scale = self.layer_scale.flatten()
            return pointwise_mlp(y, x, self.pwconv1.weight, self.pwconv1.bias,
                                 self.act,
                                 self.pwconv2.weight * scale[:, None, None, None],
                                 self.pwconv2.bias * scale)
        y = self.pwconv2(self.act(self.pwconv1(y)))
        return x + self.drop_path(self.layer_scale * y)

    def switch_to_deploy(self) -> 'DeployConvEncoder':
        """The fused twin: BN folded into ``dwconv``, the layer scale into
        ``pwconv2``; this module's layers are reused (and changed)."""
        twin = like(self.dwconv, DeployConvEncoder(
            self.dwconv.in_channels, self.pwconv1.out_channels))
        twin.act = self.act
        twin.dwconv = fold_bn_after(self.dwconv, self.norm)
        twin.pwconv1 = self.pwconv1
        twin.pwconv2 = fold_scale_after(self.pwconv2, self.layer_scale)
        return twin


class Mlp(nn.Module):
    """Norm first, then a 1x1-conv MLP (``norm1 -> fc1 -> GELU -> fc2``)."""

    def __init__(self,
                 dim: int,
                 hidden_dim: int,
                 drop: float = 0.,
                 norm_cfg: dict = dict(type='BN')):
        super().__init__()
        self.norm1 = build_norm_layer(norm_cfg, dim)[1]
        self.fc1 = nn.Conv2d(dim, hidden_dim, 1)
        self.act = nn.GELU()
        self.fc2 = nn.Conv2d(hidden_dim, dim, 1)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop(self.act(self.fc1(self.norm1(x))))
        return self.drop(self.fc2(x))

    def switch_to_deploy(self, layer_scale: torch.Tensor) -> 'DeployMlp':
        """The fused twin: ``norm1`` folded into ``fc1``, the block's
        ``layer_scale_2`` into ``fc2``; this module's layers are reused."""
        twin = like(self.fc1, DeployMlp(self.fc1.in_channels,
                                        self.fc1.out_channels))
        twin.act = self.act
        twin.fc1 = fold_bn_before(self.norm1, self.fc1)
        twin.fc2 = fold_scale_after(self.fc2, layer_scale)
        return twin


class SwiftFormerEncoder(nn.Module):
    """The last block of each stage: local conv block, additive attention and
    MLP, the last two as layer-scaled residual branches."""

    def __init__(self,
                 dim: int,
                 mlp_ratio: float = 4.,
                 drop: float = 0.,
                 drop_path: float = 0.,
                 layer_scale_init_value: float = 1e-5,
                 attn_formula: str = 'current',
                 norm_cfg: dict = dict(type='BN')):
        super().__init__()
        # The authors' local representation has no drop path of its own.
        self.local_representation = ConvEncoder(dim, dim, 0., norm_cfg)
        self.attn = EfficientAdditiveAttention(dim, attn_formula)
        self.linear = Mlp(dim, int(dim * mlp_ratio), drop, norm_cfg)
        self.layer_scale_1 = nn.Parameter(
            torch.full((dim, 1, 1), float(layer_scale_init_value)))
        self.layer_scale_2 = nn.Parameter(
            torch.full((dim, 1, 1), float(layer_scale_init_value)))
        self.drop_path = _drop_path(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.local_representation(x)
        x = x + self.drop_path(self.layer_scale_1 * self.attn(x))
        if not self.training and use_large_map_fast_path(x):
            mlp, scale = self.linear, self.layer_scale_2.flatten()
            return pointwise_mlp(mlp.norm1(x), x, mlp.fc1.weight, mlp.fc1.bias,
                                 mlp.act,
                                 mlp.fc2.weight * scale[:, None, None, None],
                                 mlp.fc2.bias * scale)
        return x + self.drop_path(self.layer_scale_2 * self.linear(x))

    def switch_to_deploy(self) -> 'DeploySwiftFormerEncoder':
        """The fused twin, each part fused by itself."""
        return DeploySwiftFormerEncoder(
            self.local_representation.switch_to_deploy(),
            self.attn.switch_to_deploy(self.layer_scale_1),
            self.linear.switch_to_deploy(self.layer_scale_2))


class Downsample(nn.Module):
    """Stride-2 3x3 conv and norm between stages (authors: ``Embedding``)."""

    def __init__(self, in_channels: int, out_channels: int,
                 norm_cfg: dict = dict(type='BN')):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1)
        self.norm = build_norm_layer(norm_cfg, out_channels)[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x))

    def switch_to_deploy(self) -> 'DeployDownsample':
        """The fused twin: one conv with the BN folded in."""
        twin = like(self.proj, DeployDownsample(self.proj.in_channels,
                                                self.proj.out_channels))
        twin.proj = fold_bn_after(self.proj, self.norm)
        return twin


# ---------------------------------------------------------- inference form
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x)
        if use_fast_path(x):
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
    """Fused :class:`EfficientAdditiveAttention`: ``layer_scale_1`` times
    :func:`efficient_additive_attention`, derived from it as follows.

    ``qk`` is ``to_query`` and ``to_key`` stacked into one (2C, C) matmul,
    ``w_g`` carries the ``C^-0.5`` scale, ``final`` carries
    ``layer_scale_1``. The legacy formula's attention weights are all ones,
    so its deploy form sums the query tokens directly.

    Two layouts, each kept apart from the reference for speed and tested
    against it (``tests/test_fusion.py``): :meth:`forward` on channels-first
    ``(B, C, N)`` tokens, with no transpose (what ONNX and OpenVINO get,
    and what CUDA, autograd and ``torch.compile`` run), and
    :meth:`_forward_tokens_last` on the ``(B, N, C)`` rows of a
    channels_last map, in place where it can (eager CPU inference).
    """

    def __init__(self, dim: int, attn_formula: str = 'current'):
        super().__init__()
        self.attn_formula = attn_formula
        self.qk = nn.Linear(dim, 2 * dim)
        self.w_g = nn.Parameter(torch.zeros(dim, 1), requires_grad=False)
        self.proj = nn.Linear(dim, dim)
        self.final = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if use_fast_path(x) and is_channels_last(x):
            return self._forward_tokens_last(x)
        B, C, H, W = x.shape
        tokens = x.flatten(2)  # (B, C, N)
        qk = torch.matmul(self.qk.weight, tokens) + self.qk.bias.unsqueeze(-1)
        query = l2_normalize(qk[:, :C], dim=1)
        key = l2_normalize(qk[:, C:], dim=1)
        if self.attn_formula == 'current':
            scores = torch.matmul(self.w_g.t(), query)  # (B, 1, N)
            weights = l2_normalize(scores, dim=2)
            global_query = (weights * query).sum(dim=2, keepdim=True)
        else:  # legacy: softmax over a size-1 axis, every weight is 1
            global_query = query.sum(dim=2, keepdim=True)
        out = torch.matmul(self.proj.weight, global_query * key)
        out = out + self.proj.bias.unsqueeze(-1) + query
        out = torch.matmul(self.final.weight, out)
        return (out + self.final.bias.unsqueeze(-1)).view(B, C, H, W)

    def _forward_tokens_last(self, x: torch.Tensor) -> torch.Tensor:
        """Same math on the (B, N, C) token rows of a channels_last tensor
        (a view, no copy); the output stays channels_last."""
        B, C, H, W = x.shape
        tokens = x.permute(0, 2, 3, 1).reshape(B, H * W, C)
        qk = torch.addmm(self.qk.bias, tokens.reshape(-1, C),
                         self.qk.weight.t()).view(B, H * W, 2 * C)
        query = l2_normalize(qk[..., :C], dim=2)
        key = l2_normalize(qk[..., C:], dim=2)
        if self.attn_formula == 'current':
            weights = l2_normalize(torch.matmul(query, self.w_g), dim=1)
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.local_representation(x)
        x = x + self.attn(x)
        if use_fast_path(x):
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)
