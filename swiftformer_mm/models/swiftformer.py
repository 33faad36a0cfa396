# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""SwiftFormer backbone for dense prediction.

SwiftFormer: Efficient Additive Attention for Transformer-based Real-time
Mobile Vision Applications (Shaker et al., ICCV 2023,
https://arxiv.org/abs/2303.15446).

Parameter names follow the authors' release (``patch_embed``, ``network.i.j``,
output norms ``norm0/2/4/6`` of their dense-prediction variant), so their
ImageNet checkpoints load without renaming; the one exception is the
attention's ``Proj`` which is spelt ``proj`` here, as in timm and Hugging Face.
Every other checkpoint layout is mapped to these names by
:func:`convert_swiftformer_state_dict`, the one place that knows about them.
"""
import contextlib
import os.path as osp
import re
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmcv.cnn import build_norm_layer
from mmengine.logging import MMLogger
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from torch.nn.modules.batchnorm import _BatchNorm

from ..checkpoint import CheckpointError, read_state_dict

try:
    from mmcv.cnn.bricks import DropPath
except ImportError:  # pragma: no cover - very old mmcv
    from mmcv.cnn.bricks.drop import DropPath

ATTN_FORMULAS = ('current', 'legacy')


def _l2_normalize(x: torch.Tensor, dim: int) -> torch.Tensor:
    """``F.normalize`` computed in fp32.

    The attention normalises over thousands of tokens (about 67k at stride 4 of
    an 800x1344 image); a half-precision sum of squares overflows there, and a
    tiny half-precision norm underflows to zero. fp32 is a no-op in fp32 mode.
    """
    return F.normalize(x.float(), dim=dim).to(x.dtype)


#: Token tile of the CPU inference path of the 1x1-conv MLPs (see
#: :func:`pointwise_mlp`); inputs with fewer tokens run in one piece.
_MLP_TILE = 4096


def _use_fast_path(x: torch.Tensor) -> bool:
    """Eager CPU inference: run the 1x1-conv MLPs as tiled matmuls.

    Training (autograd), CUDA, tracing (ONNX export, FLOP counting) and
    ``torch.compile`` keep the plain module calls.
    """
    return (x.device.type == 'cpu' and not torch.is_grad_enabled()
            and not torch.jit.is_tracing() and not torch.jit.is_scripting()
            and not torch.compiler.is_compiling())


def _large_map_fast_path(x: torch.Tensor) -> bool:
    """The training form takes the tiled-matmul MLP path only where it pays:
    on maps large enough to be tiled (measured at L1, 1 thread: 0.84x the
    latency of nn.Conv2d at 800x1344, but 1.13x at 224x224)."""
    return _use_fast_path(x) and x.shape[-2] * x.shape[-1] >= 2 * _MLP_TILE


def _is_channels_last(x: torch.Tensor) -> bool:
    return x.dim() == 4 and x.stride(1) == 1 and x.is_contiguous(
        memory_format=torch.channels_last)


def pointwise_mlp(x: torch.Tensor, residual: torch.Tensor,
                  w1: torch.Tensor, b1: torch.Tensor, act: nn.Module,
                  w2: torch.Tensor, b2: torch.Tensor) -> torch.Tensor:
    """``residual + conv1x1(act(conv1x1(x, w1, b1)), w2, b2)``, CPU inference.

    Same math as the two 1x1 convolutions, computed as matmuls on
    channels-first tokens, tile by tile over the tokens, so that the 4x-wide
    hidden activation of a tile stays in cache. On 2 CPU cores this is about
    2x faster than ``nn.Conv2d`` at the 1/4-scale stage of an 800x1344 image.
    """
    B, C, H, W = x.shape
    N = H * W
    w1, w2 = w1.flatten(1), w2.flatten(1)
    if _is_channels_last(x) and _is_channels_last(residual):
        # Tokens are rows: (B*N, C) views, no copy; out stays channels_last.
        tokens = x.permute(0, 2, 3, 1).reshape(B * N, C)
        res = residual.permute(0, 2, 3, 1).reshape(B * N, -1)
        out = torch.empty_like(res)
        w1t, w2t = w1.t(), w2.t()
        rows = B * N
        step = rows if rows < 2 * _MLP_TILE else _MLP_TILE
        for i in range(0, rows, step):
            hidden = act(torch.addmm(b1, tokens[i:i + step], w1t))
            torch.addmm(res[i:i + step], hidden, w2t, out=out[i:i + step])
        return out.add_(b2).view(B, H, W, -1).permute(0, 3, 1, 2)
    b1, b2 = b1.unsqueeze(1), b2.unsqueeze(1)
    tokens = x.reshape(B, C, N)
    res = residual.reshape(B, -1, N)
    out = torch.empty_like(res, memory_format=torch.contiguous_format)
    step = N if N < 2 * _MLP_TILE else _MLP_TILE
    for b in range(B):
        for i in range(0, N, step):
            hidden = act(torch.addmm(b1, w1, tokens[b, :, i:i + step]))
            tile = torch.addmm(res[b, :, i:i + step], w2, hidden)
            out[b, :, i:i + step] = tile.add_(b2)
    return out.view(B, -1, H, W)


@contextlib.contextmanager
def _bn_statistics_frozen(module: nn.Module):
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


def _checkpointed(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return cp.checkpoint(
        block, x, use_reentrant=False,
        context_fn=lambda: (contextlib.nullcontext(),
                            _bn_statistics_frozen(block)))


class EfficientAdditiveAttention(nn.Module):
    """Efficient additive attention (authors: ``EfficientAdditiveAttnetion``).

    With ``q`` and ``k`` the L2-normalised query and key tokens, the attention
    weights ``a = (q @ w_g) / sqrt(C)`` pool a single global query
    ``g = sum_n a_n q_n`` (a sum, not a mean: its scale depends on the token
    count, exactly as in the released weights), and the output is
    ``final(proj(g * k) + q)``.

    Args:
        dim (int): Number of channels.
        attn_formula (str): ``'current'`` normalises ``a`` over the tokens (the
            authors' code since 2023-07 and timm). ``'legacy'`` reproduces the
            first release and the Hugging Face hub weights: a softmax over a
            size-1 axis, so every weight is exactly 1.
    """

    def __init__(self, dim: int, attn_formula: str = 'current'):
        super().__init__()
        if attn_formula not in ATTN_FORMULAS:
            raise ValueError(f'attn_formula must be one of {ATTN_FORMULAS}, '
                             f'got {attn_formula!r}')
        self.attn_formula = attn_formula
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
        query = _l2_normalize(self.to_query(tokens), dim=-1)
        key = _l2_normalize(self.to_key(tokens), dim=-1)
        scores = (query @ self.w_g) * self.scale  # (B, N, 1)
        if self.attn_formula == 'current':
            weights = _l2_normalize(scores, dim=1)
        else:
            # Softmax over the singleton axis, as released: all ones, but it
            # keeps w_g in the autograd graph (zero gradient) so DDP does not
            # report it as an unused parameter.
            weights = scores.softmax(dim=-1)
        global_query = (weights * query).sum(dim=1, keepdim=True)  # (B, 1, C)
        out = self.final(self.proj(global_query * key) + query)
        return out.transpose(1, 2).reshape(B, C, H, W)


class ConvEncoder(nn.Module):
    """Inverted-bottleneck conv block: depthwise 3x3, norm, 1x1 expand, GELU,
    1x1 project, per-channel layer scale, residual.

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
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(self.dwconv(x))
        if not self.training and _large_map_fast_path(x):
            scale = self.layer_scale.flatten()
            return pointwise_mlp(y, x, self.pwconv1.weight, self.pwconv1.bias,
                                 self.act,
                                 self.pwconv2.weight * scale[:, None, None, None],
                                 self.pwconv2.bias * scale)
        y = self.pwconv2(self.act(self.pwconv1(y)))
        return x + self.drop_path(self.layer_scale * y)


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
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.local_representation(x)
        x = x + self.drop_path(self.layer_scale_1 * self.attn(x))
        if not self.training and _large_map_fast_path(x):
            mlp, scale = self.linear, self.layer_scale_2.flatten()
            return pointwise_mlp(mlp.norm1(x), x, mlp.fc1.weight, mlp.fc1.bias,
                                 mlp.act,
                                 mlp.fc2.weight * scale[:, None, None, None],
                                 mlp.fc2.bias * scale)
        return x + self.drop_path(self.layer_scale_2 * self.linear(x))


class Downsample(nn.Module):
    """Stride-2 3x3 conv and norm between stages (authors: ``Embedding``)."""

    def __init__(self, in_channels: int, out_channels: int,
                 norm_cfg: dict = dict(type='BN')):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1)
        self.norm = build_norm_layer(norm_cfg, out_channels)[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x))


class SwiftFormer(BaseModule):
    """SwiftFormer backbone returning a 1/4, 1/8, 1/16, 1/32 feature pyramid.

    A PyTorch implementation of `SwiftFormer: Efficient Additive Attention for
    Transformer-based Real-time Mobile Vision Applications
    <https://arxiv.org/abs/2303.15446>`_, numerically equal to the authors'
    release and timm's ``swiftformer_*`` on the same weights.

    Args:
        arch (str | dict): ``'xs'``, ``'s'``, ``'l1'`` or ``'l3'``
            (case-insensitive), or a dict with keys ``widths`` and ``depths``,
            each a sequence of 4 ints. Defaults to ``'l1'``.
        in_channels (int): Input image channels. Defaults to 3.
        out_indices (Sequence[int]): Stages to return (0..3, strides
            4, 8, 16, 32). Defaults to (0, 1, 2, 3).
        mlp_ratio (float): Hidden-width ratio of the MLPs. Defaults to 4.
        drop_rate (float): Dropout in the attention blocks' MLP.
            Defaults to 0.
        drop_path_rate (float): Stochastic depth; block ``i`` of ``n`` gets
            ``drop_path_rate * i / (n - 1)``. Defaults to 0.
        layer_scale_init_value (float): Initial attention/MLP layer scale.
            Defaults to 1e-5.
        attn_formula (str): ``'current'`` (default; authors' code since
            2023-07, timm) or ``'legacy'`` (authors' first release, Hugging
            Face hub weights). Weights must run with the formula they were
            trained with; loading a checkpoint known to be of the other one
            raises an error.
        norm_cfg (dict): Norm of the network (stem, blocks, downsamples).
            The released weights are BatchNorm; ``dict(type='SyncBN')`` syncs
            them across GPUs. Defaults to ``dict(type='BN')``.
        out_norm_cfg (dict, optional): Norm applied to each returned stage,
            as in the authors' dense-prediction variant. ``None`` uses
            ``norm_cfg``; ``dict(type='GN', num_groups=1)`` is
            EfficientFormer's choice. Defaults to None.
        frozen_stages (int): ``-1`` freezes nothing, ``0`` the stem, ``k``
            (1..4) the stem and stages 0..k-1 with their downsamples and
            output norms; they stay frozen (and in eval mode) across
            ``train()``. Defaults to -1.
        norm_eval (bool): Keep every BatchNorm in eval mode while training
            (frozen running statistics). Defaults to False.
        with_cp (bool): Gradient checkpointing per block: less memory, more
            compute. Defaults to False.
        deploy (bool): Build the inference form (BatchNorms and layer scales
            folded, see :mod:`swiftformer_mm.deploy`). Its weights load from
            a deploy checkpoint (``tools/deploy_checkpoint.py``) or from any
            training-form checkpoint, which is fused while loading. Same as
            calling :meth:`switch_to_deploy` on a trained model. Inference
            only. Defaults to False.
        init_cfg (dict, optional): ``dict(type='Pretrained', checkpoint=PATH,
            prefix=None)`` loads the authors', Hugging Face, timm or OpenMMLab
            checkpoints (see :func:`convert_swiftformer_state_dict`). Without
            it, convs and linears get trunc-normal(0.02) weights.

    Example:
        >>> import torch
        >>> from swiftformer_mm.models import SwiftFormer
        >>> model = SwiftFormer(arch='l1').eval()
        >>> feats = model(torch.rand(1, 3, 224, 224))
        >>> for f in feats:
        ...     print(tuple(f.shape))
        (1, 48, 56, 56)
        (1, 96, 28, 28)
        (1, 192, 14, 14)
        (1, 384, 7, 7)
    """

    arch_settings = {
        'xs': dict(widths=[48, 56, 112, 220], depths=[3, 3, 6, 4]),
        's': dict(widths=[48, 64, 168, 224], depths=[3, 3, 9, 6]),
        'l1': dict(widths=[48, 96, 192, 384], depths=[4, 3, 10, 5]),
        'l3': dict(widths=[64, 128, 320, 512], depths=[4, 4, 12, 6]),
    }
    num_stages = 4
    # Stage k's output sits at network index 2k; odd indices are downsamples.
    stage_network_indices = (0, 2, 4, 6)

    def __init__(self,
                 arch: Union[str, dict] = 'l1',
                 in_channels: int = 3,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 mlp_ratio: float = 4.,
                 drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 layer_scale_init_value: float = 1e-5,
                 attn_formula: str = 'current',
                 norm_cfg: dict = dict(type='BN'),
                 out_norm_cfg: Optional[dict] = None,
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 init_cfg: Optional[dict] = None,
                 pretrained: Optional[str] = None,
                 deploy: bool = False):
        if pretrained is not None:
            # mmseg's EncoderDecoder hands `model.pretrained` to the backbone;
            # in configs derived from mmseg's ResNet bases it names ResNet
            # weights, which must not be loaded (or downloaded) here.
            raise ValueError(
                f'SwiftFormer got pretrained={pretrained!r}. In mmseg this '
                'comes from `model.pretrained` of the base config (ResNet '
                'weights there): set model.pretrained=None, and load SwiftFormer '
                "weights with backbone init_cfg=dict(type='Pretrained', "
                'checkpoint=PATH).')
        super().__init__(init_cfg=init_cfg)
        self.arch = self._parse_arch(arch)
        widths, depths = self.arch['widths'], self.arch['depths']
        self.widths, self.depths = widths, depths
        self.out_indices = self._parse_out_indices(out_indices)
        if not (isinstance(frozen_stages, int)
                and -1 <= frozen_stages <= self.num_stages):
            raise ValueError(
                f'frozen_stages must be an int in [-1, {self.num_stages}] '
                f'(-1: nothing, 0: stem, k: stem and stages 0..k-1), got '
                f'{frozen_stages!r}')
        if attn_formula not in ATTN_FORMULAS:
            raise ValueError(f'attn_formula must be one of {ATTN_FORMULAS}, '
                             f'got {attn_formula!r}')
        self.attn_formula = attn_formula
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        self._check_pretrained_file(init_cfg)

        c0 = widths[0]
        self.patch_embed = nn.Sequential(
            nn.Conv2d(in_channels, c0 // 2, 3, stride=2, padding=1),
            build_norm_layer(norm_cfg, c0 // 2)[1],
            nn.ReLU(),
            nn.Conv2d(c0 // 2, c0, 3, stride=2, padding=1),
            build_norm_layer(norm_cfg, c0)[1],
            nn.ReLU(),
        )

        total_blocks = sum(depths)
        network = []
        block_idx = 0
        for stage, (width, depth) in enumerate(zip(widths, depths)):
            if stage > 0:
                network.append(Downsample(widths[stage - 1], width, norm_cfg))
            blocks = []
            for j in range(depth):
                dpr = drop_path_rate * block_idx / max(total_blocks - 1, 1)
                block_idx += 1
                if j < depth - 1:
                    blocks.append(
                        ConvEncoder(width, int(width * mlp_ratio), dpr,
                                    norm_cfg))
                else:
                    blocks.append(
                        SwiftFormerEncoder(width, mlp_ratio, drop_rate, dpr,
                                           layer_scale_init_value,
                                           attn_formula, norm_cfg))
            network.append(nn.Sequential(*blocks))
        self.network = nn.ModuleList(network)

        out_norm_cfg = norm_cfg if out_norm_cfg is None else out_norm_cfg
        for stage in self.out_indices:
            idx = self.stage_network_indices[stage]
            self.add_module(f'norm{idx}',
                            build_norm_layer(out_norm_cfg, widths[stage])[1])

        if init_cfg is None:
            self.apply(self._init_linear_and_conv)
        self._freeze_stages()

        # Arguments that fix the structure, to rebuild the training form when
        # a deploy-form model loads training-form weights.
        self._structure = dict(
            arch=self.arch, in_channels=in_channels,
            out_indices=self.out_indices, mlp_ratio=mlp_ratio,
            attn_formula=attn_formula, norm_cfg=norm_cfg,
            out_norm_cfg=out_norm_cfg)
        self.deploy = False
        self.register_load_state_dict_pre_hook(_fuse_training_weights_on_load)
        if deploy:
            self.switch_to_deploy()

    # ------------------------------------------------------------ arguments
    @classmethod
    def _parse_arch(cls, arch: Union[str, dict]) -> dict:
        if isinstance(arch, str):
            key = arch.lower()
            if key not in cls.arch_settings:
                raise ValueError(
                    f'Unknown SwiftFormer arch {arch!r}; choose one of '
                    f'{sorted(cls.arch_settings)} or pass '
                    "dict(widths=[...4 ints], depths=[...4 ints]).")
            return {k: list(v) for k, v in cls.arch_settings[key].items()}
        if not isinstance(arch, dict) or set(arch) != {'widths', 'depths'}:
            raise ValueError(
                'A custom SwiftFormer arch must be a dict with exactly the '
                f"keys 'widths' and 'depths', got {arch!r}")
        widths, depths = list(arch['widths']), list(arch['depths'])
        if len(widths) != cls.num_stages or len(depths) != cls.num_stages:
            raise ValueError(
                f'arch widths and depths need {cls.num_stages} entries each '
                f'(one per stage), got widths={widths}, depths={depths}')
        if any(int(w) != w or w < 2 for w in widths) or any(
                int(d) != d or d < 1 for d in depths):
            raise ValueError('arch widths must be ints >= 2 and depths ints '
                             f'>= 1, got widths={widths}, depths={depths}')
        return dict(widths=[int(w) for w in widths],
                    depths=[int(d) for d in depths])

    @classmethod
    def _parse_out_indices(cls, out_indices) -> Tuple[int, ...]:
        if isinstance(out_indices, int):
            out_indices = (out_indices, )
        out_indices = tuple(out_indices)
        if not out_indices or any(
                not isinstance(i, int) or not -cls.num_stages <= i <
                cls.num_stages for i in out_indices):
            raise ValueError(
                f'out_indices must be stage indices in 0..{cls.num_stages - 1}'
                f' (strides 4, 8, 16, 32), got {out_indices!r}')
        resolved = tuple(sorted({i % cls.num_stages for i in out_indices}))
        if len(resolved) != len(out_indices):
            raise ValueError(f'out_indices has duplicates: {out_indices!r}')
        return resolved

    @staticmethod
    def _check_pretrained_file(init_cfg) -> None:
        """Fail at build time, before any data is loaded, on a missing file."""
        if not isinstance(init_cfg, dict) or init_cfg.get(
                'type') != 'Pretrained':
            return
        path = init_cfg.get('checkpoint')
        if isinstance(path, str) and '://' not in path and not osp.exists(
                path):
            raise FileNotFoundError(
                f'SwiftFormer pretrained checkpoint not found: {path!r} '
                f'(resolved from {osp.abspath(".")}). Download the ImageNet '
                'weights as the README\'s "Pretrained weights" section says '
                'and put them there, pass another path with --cfg-options '
                'model.backbone.init_cfg.checkpoint=PATH, or train from '
                'scratch with model.backbone.init_cfg=None.')

    # --------------------------------------------------------------- weights
    @staticmethod
    def _init_linear_and_conv(m: nn.Module) -> None:
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            trunc_normal_(m.weight, std=.02)
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)

    def init_weights(self) -> None:
        """Load ``init_cfg``'s checkpoint, whatever its format, or fail.

        mmengine's generic ``Pretrained`` initialiser only understands
        OpenMMLab layouts and merely warns when nothing matches; here the
        format is detected, keys are mapped, and anything that would leave
        weights random raises :class:`~swiftformer_mm.checkpoint.CheckpointError`.
        """
        if not (isinstance(self.init_cfg, dict)
                and self.init_cfg.get('type') == 'Pretrained'):
            super().init_weights()
            return
        if self.deploy:
            # Load into the training form, then fuse.
            twin = self.training_twin(init_cfg=self.init_cfg)
            twin.init_weights()
            self.load_state_dict(twin.switch_to_deploy().state_dict())
            self._is_init = True
            return
        logger = MMLogger.get_current_instance()
        path = self.init_cfg['checkpoint']
        state_dict, meta = read_state_dict(
            path, map_location=self.init_cfg.get('map_location', 'cpu'))
        state_dict, fmt = convert_swiftformer_state_dict(
            state_dict, prefix=self.init_cfg.get('prefix'))
        self._check_attn_formula(path, fmt, meta)
        loaded = self._load_converted(path, fmt, state_dict)
        logger.info(f'SwiftFormer: loaded {loaded}/{len(self.state_dict())} '
                    f'tensors from {fmt} checkpoint {path}')
        self._is_init = True

    def _check_attn_formula(self, path: str, fmt: str, meta: dict) -> None:
        trained_with = meta.get('attn_formula') or FORMAT_ATTN_FORMULA.get(fmt)
        if trained_with and trained_with != self.attn_formula:
            raise CheckpointError(
                f'{path} holds {fmt} weights trained with the '
                f"{trained_with!r} attention formula, but the backbone is "
                f"built with attn_formula={self.attn_formula!r}; the two "
                'compute different attention and the weights would be '
                f"wrong. Set backbone attn_formula='{trained_with}'.")

    def _load_converted(self, path: str, fmt: str,
                        state_dict: Dict[str, torch.Tensor]) -> int:
        own = self.state_dict()
        found = infer_arch(state_dict)
        if found is not None and found != self.arch:
            raise CheckpointError(
                f'{path} holds a SwiftFormer {describe_arch(found)}, but the '
                f'backbone is built as {describe_arch(self.arch)}. Set the '
                "backbone's arch to match the checkpoint.")
        mismatched = [
            f'{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}'
            for k, v in state_dict.items()
            if k in own and v.shape != own[k].shape
        ]
        if mismatched:
            raise CheckpointError(
                f'{path}: {len(mismatched)} tensors do not fit the '
                f'{describe_arch(self.arch)} backbone: '
                + '; '.join(mismatched[:5]))
        # Output norms are not part of a classification checkpoint; anything
        # else missing means the file is not a complete SwiftFormer.
        out_norms = tuple(f'norm{self.stage_network_indices[i]}.'
                          for i in self.out_indices)
        missing = [k for k in own if k not in state_dict
                   and not k.startswith(out_norms)]
        if missing:
            matched = len(own) - len(missing)
            raise CheckpointError(
                f'{path} ({fmt} format) lacks {len(missing)} of the '
                f'{len(own)} backbone tensors (matched {matched}), e.g. '
                f'{missing[:5]}. It is not a complete SwiftFormer '
                f'{describe_arch(self.arch)} checkpoint.')
        usable = {k: v for k, v in state_dict.items() if k in own}
        self.load_state_dict(usable, strict=False)
        return len(usable)

    # --------------------------------------------------------------- forward
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        if min(x.shape[-2:]) < 32 and not torch.jit.is_tracing():
            raise ValueError(
                f'SwiftFormer got a {x.shape[-1]}x{x.shape[-2]} (WxH) input; '
                'it needs at least 32x32 pixels (its total stride). Resize or '
                'pad smaller images (e.g. a Resize transform, or the data '
                'preprocessor pad_size_divisor=32).')
        nhwc = self.deploy and _use_fast_path(x)
        if nhwc:
            # The deploy form's CPU path runs channels_last (NHWC): depthwise
            # convs are faster there and tokens are (N, C) rows without a
            # copy.
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.patch_embed(x)
        outs = []
        last = self.stage_network_indices[self.out_indices[-1]]
        for idx, layer in enumerate(self.network[:last + 1]):
            if self.with_cp and self.training and idx % 2 == 0:
                for block in layer:
                    x = _checkpointed(block, x)
            else:
                x = layer(x)
            if idx % 2 == 0 and idx // 2 in self.out_indices:
                outs.append(getattr(self, f'norm{idx}')(x))
        if nhwc:
            # Hand back the usual NCHW memory: mmcv's CPU RoIAlign indexes
            # its input's memory as NCHW whatever its strides say.
            outs = [o.contiguous() for o in outs]
        return tuple(outs)

    # ---------------------------------------------------------------- deploy
    def switch_to_deploy(self) -> 'SwiftFormer':
        """Fold every BatchNorm and layer scale into its neighbouring layer,
        in place (see :mod:`swiftformer_mm.deploy`); returns ``self``.

        Uses the BN running statistics (eval-mode semantics). The result is
        for inference; training it is not supported.
        """
        from ..deploy import deploy_swiftformer_
        return deploy_swiftformer_(self)

    def training_twin(self, init_cfg: Optional[dict] = None) -> 'SwiftFormer':
        """A new training-form SwiftFormer with this one's structure."""
        return SwiftFormer(**self._structure, init_cfg=init_cfg)

    # ------------------------------------------------------ train / freezing
    def _frozen_modules(self):
        if self.frozen_stages >= 0:
            yield self.patch_embed
        for stage in range(self.frozen_stages):
            idx = self.stage_network_indices[stage]
            if stage > 0:
                yield self.network[idx - 1]
            yield self.network[idx]
            if hasattr(self, f'norm{idx}'):
                yield getattr(self, f'norm{idx}')

    def _freeze_stages(self) -> None:
        for module in self._frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self


def _fuse_training_weights_on_load(module: SwiftFormer, state_dict: dict,
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


# ---------------------------------------------------------------------------
# Checkpoint layouts. Everything below maps other layouts to this file's names.
# ---------------------------------------------------------------------------

#: Attention formula each format's published weights were trained with.
#: The authors' files are assumed to be the current release (the README's
#: links since 2023-07); a first-release file needs attn_formula='legacy'.
FORMAT_ATTN_FORMULA = {
    'huggingface': 'legacy',
    'timm': 'current',
}

#: Classification-only tensors of each format, dropped on load.
_HEAD_KEYS = re.compile(r'^(norm|head|dist_head|head_dist)\.')


def _rename_authors(key: str) -> str:
    return key.replace('.attn.Proj.', '.attn.proj.')


def _rename_timm(key: str) -> str:
    key = key.replace('stem.', 'patch_embed.', 1) if key.startswith(
        'stem.') else key
    key = re.sub(r'\.(layer_scale(?:_1|_2)?)\.gamma$', r'.\1', key)
    m = re.match(r'^stages\.(\d+)\.(downsample|blocks)\.(.*)$', key)
    if m:
        stage, part, rest = int(m.group(1)), m.group(2), m.group(3)
        if part == 'blocks':
            key = f'network.{2 * stage}.{rest}'
        else:
            key = f'network.{2 * stage - 1}.{rest}'
    return key


def _rename_huggingface(key: str) -> str:
    key = key[len('swiftformer.'):] if key.startswith('swiftformer.') else key
    key = key.replace('patch_embed.patch_embedding.', 'patch_embed.')
    key = key.replace('.point_wise_conv', '.pwconv')
    key = key.replace('.depth_wise_conv', '.dwconv')
    key = re.sub(r'^encoder\.network\.(\d+)\.blocks\.', r'network.\1.', key)
    key = re.sub(r'^encoder\.network\.', 'network.', key)
    return key


_RENAMERS = {
    'openmmlab': lambda k: k,
    'authors': _rename_authors,
    'timm': _rename_timm,
    'huggingface': _rename_huggingface,
}


def detect_format(keys) -> Optional[str]:
    """Name the layout of a SwiftFormer state dict from its keys."""
    keys = list(keys)
    if any(k.startswith(('swiftformer.patch_embed.', 'patch_embed.patch_embedding.',
                         'encoder.network.')) for k in keys):
        return 'huggingface'
    if any(k.startswith('stem.') for k in keys) and any(
            k.startswith('stages.') for k in keys):
        return 'timm'
    if any(k.startswith('network.') for k in keys):
        if any('.attn.Proj.' in k for k in keys):
            return 'authors'
        return 'openmmlab'
    return None


def convert_swiftformer_state_dict(
        state_dict: Dict[str, torch.Tensor],
        prefix: Optional[str] = None) -> Tuple[Dict[str, torch.Tensor], str]:
    """Map any supported SwiftFormer state dict to this backbone's names.

    Supported layouts: the authors' release (``patch_embed``, ``network``,
    ``attn.Proj``), Hugging Face (``swiftformer.encoder.network.i.blocks.j``),
    timm (``stem``, ``stages.k.blocks``) and OpenMMLab checkpoints of this
    backbone (inside a detector/segmentor under ``backbone.``, or under
    ``prefix``). Classification heads are dropped.

    Args:
        state_dict (dict): Tensors of the checkpoint.
        prefix (str, optional): Keep only keys under this prefix (e.g.
            ``'backbone'``), with the prefix removed.

    Returns:
        tuple[dict, str]: The mapped state dict and the detected format.
    """
    def strip(sd, p):
        p = p if p.endswith('.') else p + '.'
        return {k[len(p):]: v for k, v in sd.items() if k.startswith(p)}

    if prefix:
        selected = strip(state_dict, prefix)
        if not selected:
            raise CheckpointError(
                f'no key of the checkpoint starts with prefix {prefix!r}; its '
                f'first keys are {list(state_dict)[:5]}')
        state_dict = selected
    elif any(k.startswith('backbone.') for k in state_dict):
        state_dict = strip(state_dict, 'backbone')
    if state_dict and all(k.startswith('module.') for k in state_dict):
        state_dict = strip(state_dict, 'module')  # saved from a DDP wrapper

    fmt = detect_format(state_dict)
    if fmt is None:
        raise CheckpointError(
            'no SwiftFormer weights recognised in the checkpoint (expected '
            "the authors' 'patch_embed.'/'network.', timm's 'stem.'/"
            "'stages.', Hugging Face's 'swiftformer.encoder.' or an OpenMMLab "
            f"'backbone.' layout); its first keys are {list(state_dict)[:5]}")
    rename = _RENAMERS[fmt]
    converted = {}
    for key, value in state_dict.items():
        new_key = rename(key)
        if _HEAD_KEYS.match(new_key):
            continue
        converted[new_key] = value
    return converted, fmt


def infer_arch(state_dict: Dict[str, torch.Tensor]) -> Optional[dict]:
    """Widths and depths of the SwiftFormer in a converted state dict."""
    widths, depths = [], []
    for idx in SwiftFormer.stage_network_indices:
        blocks = {
            int(m.group(1))
            for k in state_dict
            for m in [re.match(rf'^network\.{idx}\.(\d+)\.', k)] if m
        }
        if not blocks:
            return None
        depths.append(max(blocks) + 1)
        last = f'network.{idx}.{max(blocks)}.local_representation.dwconv.weight'
        if last not in state_dict:
            return None
        widths.append(int(state_dict[last].shape[0]))
    return dict(widths=widths, depths=depths)


def describe_arch(arch: dict) -> str:
    for name, setting in SwiftFormer.arch_settings.items():
        if setting == arch:
            return (f"'{name}' (widths {arch['widths']}, depths "
                    f"{arch['depths']})")
    return f"custom arch (widths {arch['widths']}, depths {arch['depths']})"
