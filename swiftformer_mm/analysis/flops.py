# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Parameters and GMACs of SwiftFormer backbones, detectors and segmentors
(``tools/analysis_tools/get_flops.py``).

Counted with mmengine's analysis (``mmengine.analysis``, fvcore's counting
rules: one multiply-add per MAC of conv/linear/matmul; elementwise ops such
as GELU and the L2 normalisations are not counted, as in the paper's figures).
"""
from functools import partial

import torch
import torch.nn as nn
from mmengine.analysis import get_model_complexity_info

from ..models import SwiftFormer

#: The paper's GMACs at 224x224 (Table 1), and the backbone-only parameter
#: counts of the authors' code (stem + network, no norms or heads).
PAPER = {
    'xs': dict(gmacs=0.6, backbone_params=3_032_920, cls_params=3_475_360),
    's': dict(gmacs=1.0, backbone_params=5_641_680, cls_params=6_092_128),
    'l1': dict(gmacs=1.6, backbone_params=11_287_152, cls_params=12_057_920),
    'l3': dict(gmacs=4.0, backbone_params=27_467_712, cls_params=28_494_736),
}


def count(model: nn.Module, inputs) -> dict:
    """``{'params': int, 'gmacs': float}`` of ``model`` on ``inputs``."""
    import logging
    model.eval()
    logger = logging.getLogger('mmengine')
    level = logger.level
    logger.setLevel(logging.ERROR)  # per-op "unsupported operator" notes
    try:
        with torch.no_grad():
            info = get_model_complexity_info(
                model, inputs=inputs, show_table=False, show_arch=False)
    finally:
        logger.setLevel(level)
    return dict(params=sum(p.numel() for p in model.parameters()),
                gmacs=info['flops'] / 1e9)


def classification_params(arch: str) -> int:
    """Parameters of the classification model (final BN, head and
    distillation head on the last stage) with this backbone: the figure the
    paper and the authors' code report."""
    backbone = SwiftFormer(arch, out_indices=(3, ))
    trunk = sum(p.numel() for n, p in backbone.named_parameters()
                if not n.startswith('norm'))
    c4 = backbone.widths[-1]
    return trunk + 2 * c4 + 2 * (c4 * 1000 + 1000)


def backbone_figures(arch: str, shape=(224, 224), deploy: bool = False) -> dict:
    """Backbone parameters (stem + network, no output norms) and GMACs.

    Only the last output norm is built (``out_indices=(3,)``), as a
    classification trunk; its parameters are left out of ``params``.
    """
    model = SwiftFormer(arch, out_indices=(3, ), deploy=deploy)
    figures = count(model, torch.zeros(1, 3, *shape))
    figures['params'] -= sum(p.numel() for p in model.norm6.parameters())
    return figures


def arch_figures(archs, shape, deploy=False) -> dict:
    """``{arch: {'params', 'gmacs', 'cls_params'}}`` of the backbones."""
    return {arch: dict(backbone_figures(arch, shape, deploy),
                       cls_params=classification_params(arch))
            for arch in archs}


def arch_table(figures: dict, shape) -> str:
    """The Markdown table of :func:`arch_figures` against the paper."""
    rows = [
        '| arch | backbone params | paper/authors | cls params (+head) | '
        'paper | GMACs | paper GMACs (224) | GMACs/paper |',
        '|---|---|---|---|---|---|---|---|'
    ]
    for arch, f in figures.items():
        ref = PAPER[arch]
        cls = f['cls_params']
        ratio = (f'{f["gmacs"] / ref["gmacs"]:.3f}'
                 if tuple(shape) == (224, 224) else '-')
        rows.append(
            f'| {arch.upper()} | {f["params"]:,} | {ref["backbone_params"]:,} '
            f'| {cls:,} | {ref["cls_params"]:,} | {f["gmacs"]:.3f} | '
            f'{ref["gmacs"]} | {ratio} |')
    return '\n'.join(rows)


def build_from_config(path: str, cfg_options=None, deploy=False):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    cfg.model.backbone.init_cfg = None  # the weights do not change counts
    if deploy:
        cfg.model.backbone.deploy = True
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    if cfg.get('default_scope') == 'mmseg':
        from mmseg.registry import MODELS
    else:
        from mmdet.registry import MODELS
    model = MODELS.build(cfg.model)
    return cfg, model.eval()


def _data_samples(cfg, shape):
    h, w = shape
    meta = dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
                batch_input_shape=(h, w), scale_factor=(1.0, 1.0))
    if cfg.get('default_scope') == 'mmseg':
        from mmseg.structures import SegDataSample
        return [SegDataSample(metainfo=meta)]
    from mmdet.structures import DetDataSample
    return [DetDataSample(metainfo=meta)]


class _Stack(nn.Module):
    """backbone (+ neck) of a detector/segmentor as one traceable module."""

    def __init__(self, backbone, neck=None):
        super().__init__()
        self.backbone, self.neck = backbone, neck

    def forward(self, x):
        x = self.backbone(x)
        return self.neck(x) if self.neck is not None else x


def config_figures(path, shape, cfg_options=None, deploy=False) -> dict:
    cfg, model = build_from_config(path, cfg_options, deploy)
    x = torch.zeros(1, 3, *shape)
    out = dict(backbone=count(_Stack(model.backbone), x))
    if getattr(model, 'neck', None) is not None:
        out['backbone+neck'] = count(_Stack(model.backbone, model.neck), x)
    model.forward = partial(model.forward, data_samples=_data_samples(
        cfg, shape), mode='tensor')
    try:
        out['whole model (tensor mode)'] = count(model, x)
    except Exception as e:  # noqa: BLE001 - report, keep the exact parts
        print(f'whole-model trace failed ({type(e).__name__}: {e}); '
              'backbone and neck figures above are exact')
    return out
