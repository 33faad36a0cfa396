# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""SwiftFormer backbone for dense prediction.

SwiftFormer: Efficient Additive Attention for Transformer-based Real-time
Mobile Vision Applications (Shaker et al., ICCV 2023,
https://arxiv.org/abs/2303.15446).

The network of the paper's Fig. 3: a conv stem, then four stages of
:class:`~.blocks.ConvEncoder` blocks ending in one
:class:`~.blocks.SwiftFormerEncoder`, with a stride-2
:class:`~.blocks.Downsample` between stages, and (the authors' dense-prediction
variant) a norm on every returned stage. Parameter names follow the authors'
release (``patch_embed``, ``network.i.j``, ``norm0/2/4/6``), so their ImageNet
checkpoints load without renaming; the one exception is the attention's
``Proj``, spelt ``proj`` here as in timm and Hugging Face. Every other layout
is mapped by :mod:`swiftformer_mm.checkpoint.layouts`.
"""
import os.path as osp
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from torch.nn.modules.batchnorm import _BatchNorm

from ..compat import register_load_state_dict_pre_hook
from .blocks import (ConvEncoder, Downsample, SwiftFormerEncoder,
                     validate_attn_formula)
from .cpu_kernels import use_fast_path
from .fusion import fold_bn_after, fuse_training_weights_on_load
from .grad_checkpoint import checkpointed
from .loading import load_checkpoint


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
            folded, see :meth:`switch_to_deploy`). Its weights load from
            a deploy checkpoint (``tools/model_converters/deploy_checkpoint.py``) or from any
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
        self.attn_formula = validate_attn_formula(attn_formula)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.with_cp = with_cp

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
        register_load_state_dict_pre_hook(self, fuse_training_weights_on_load)
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
    def check_pretrained_file(path) -> None:
        """Raise ``FileNotFoundError`` with the fix if ``init_cfg``'s
        checkpoint ``path`` is a local path that does not exist.

        :meth:`init_weights` calls it, so every launcher stops on a missing
        file before the first batch; ``tools/train.py`` calls it before it
        builds anything, so that no data is read at all.
        """
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
        weights random raises :class:`~swiftformer_mm.checkpoint.CheckpointError`
        (see :mod:`.loading`).

        The file is read here and nowhere else: building the model never
        touches the file system, so inference and testing from a trained
        checkpoint (which never call ``init_weights``) need no ImageNet file.
        A training run calls this before its first batch (mmengine's Runner,
        whatever launches it), and stops on a missing file with the fix.
        """
        if not (isinstance(self.init_cfg, dict)
                and self.init_cfg.get('type') == 'Pretrained'):
            super().init_weights()
            return
        self.check_pretrained_file(self.init_cfg.get('checkpoint'))
        if self.deploy:
            # The training form reads and checks the file; loading its
            # weights here folds them (fusion.fuse_training_weights_on_load).
            twin = self.training_twin(init_cfg=self.init_cfg)
            twin.init_weights()
            self.load_state_dict(twin.state_dict())
            self._is_init = True
            return
        load_checkpoint(self, self.init_cfg['checkpoint'],
                        prefix=self.init_cfg.get('prefix'),
                        map_location=self.init_cfg.get('map_location', 'cpu'))
        self._is_init = True

    # --------------------------------------------------------------- forward
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        # Each side on its own: under torch.export a check of min() over
        # symbolic sizes becomes a guard that the exported program drops.
        if (x.shape[-2] < 32 or x.shape[-1] < 32) and \
                not torch.jit.is_tracing():
            raise ValueError(
                f'SwiftFormer got a {x.shape[-1]}x{x.shape[-2]} (WxH) input; '
                'it needs at least 32x32 pixels (its total stride). Resize or '
                'pad smaller images (e.g. a Resize transform, or the data '
                'preprocessor pad_size_divisor=32).')
        nhwc = self.deploy and use_fast_path(x)
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
                    x = checkpointed(block, x)
            else:
                x = layer(x)
            if idx % 2 == 0 and idx // 2 in self.out_indices:
                outs.append(getattr(self, f'norm{idx}')(x))
        if nhwc:
            # Hand back the usual NCHW memory: mmcv's CPU RoIAlign indexes
            # its input's memory as NCHW whatever its strides say.
            outs = [o.contiguous() for o in outs]
        if self.training and torch.is_grad_enabled():
            outs = self._tie_output_norms(outs)
        return tuple(outs)

    def _tie_output_norms(self, outs):
        """Put every output norm's parameters in the graph of every output.

        The output norms are the only parameters that exist for one output
        alone. A neck or head that skips a level (FPN ``start_level=1``, a
        decode head's ``in_index``) would leave that level's norm without a
        gradient, and DistributedDataParallel (``find_unused_parameters``
        off) then stops at the second iteration. Adding
        ``0 * sum(norm parameters)`` to each output gives such a norm an exact
        zero gradient instead, leaves every output's value as it is, and
        costs one scalar add per level; the same idiom as mmdet's heads'
        ``loss + 0 * sum(params)`` for images without objects.
        """
        params = [p for i in self.out_indices
                  for p in getattr(self, f'norm{self.stage_network_indices[i]}'
                                   ).parameters() if p.requires_grad]
        if not params:
            return outs
        zero = torch.stack([p.sum() for p in params]).sum() * 0.
        return [out + zero.to(out.dtype) for out in outs]

    # ---------------------------------------------------------------- deploy
    @torch.no_grad()
    def switch_to_deploy(self) -> 'SwiftFormer':
        """Fold every BatchNorm and layer scale into its neighbouring layer,
        in place, and return ``self``.

        Each block fuses itself (``block.switch_to_deploy()`` returns its
        inference twin, see :mod:`.blocks`); the stem's two conv -> BN
        pairs are folded here. Uses the BN running
        statistics (eval-mode semantics). The output norms ``norm0/2/4/6``
        stay: they follow a residual sum and have nothing to fold into. The
        result is for inference; training it is not supported.
        """
        if self.deploy:
            return self
        stem = self.patch_embed
        fold_bn_after(stem[0], stem[1])
        fold_bn_after(stem[3], stem[4])
        stem[1], stem[4] = nn.Identity(), nn.Identity()
        for idx, layer in enumerate(self.network):
            if isinstance(layer, Downsample):
                self.network[idx] = layer.switch_to_deploy()
            else:
                for j, block in enumerate(layer):
                    layer[j] = block.switch_to_deploy()
        for p in self.parameters():
            p.requires_grad = False
        self.deploy = True
        self.with_cp = False
        return self

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

