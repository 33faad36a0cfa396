# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Parameters and GMACs of SwiftFormer backbones, detectors and segmentors.

Counted with mmengine's analysis (``mmengine.analysis``, fvcore's counting
rules: one multiply-add per MAC of conv/linear/matmul; elementwise ops such
as GELU and the L2 normalisations are not counted, as in the paper's figures).

    # every arch at 224x224, against the paper (default)
    python tools/get_flops.py
    python tools/get_flops.py --arch l1 --shape 800 1344 [--deploy]
    # a detector / segmentor config at its input size (H W)
    python tools/get_flops.py --config configs/detection/mask_rcnn_swiftformer_l1.py --shape 800 1344
    python tools/get_flops.py --config configs/segmentation/semantic_fpn_swiftformer_l1.py --shape 512 512

With ``--config``, the backbone's pretrained file is not needed (weights do
not change the count). The whole model is traced in ``tensor`` mode (for
Mask R-CNN: backbone, FPN, RPN head and the RoI heads on the RPN's
proposals, whose number depends on the weights, so that part is indicative);
the backbone and backbone+neck figures are exact.
"""
import argparse
import os
import sys
from functools import partial

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mmengine.analysis import get_model_complexity_info  # noqa: E402

from swiftformer_mm.models import SwiftFormer  # noqa: E402

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


def arch_table(archs, shape, deploy=False) -> str:
    rows = [
        '| arch | backbone params | paper/authors | cls params (+head) | '
        'paper | GMACs | paper GMACs (224) | GMACs/paper |',
        '|---|---|---|---|---|---|---|---|'
    ]
    for arch in archs:
        f = backbone_figures(arch, shape, deploy)
        ref = PAPER[arch]
        cls = classification_params(arch)
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

    import swiftformer_mm  # noqa: F401
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--arch', nargs='+', default=['xs', 's', 'l1', 'l3'])
    parser.add_argument('--config', help='mmdet/mmseg config to count')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='input size (default 224 224; 800 1344 for '
                        'detection configs, 512 512 for segmentation)')
    parser.add_argument('--deploy', action='store_true',
                        help='count the deploy (fused) form')
    parser.add_argument('--cfg-options', nargs='+', default=None,
                        help='key=value overrides of the config')
    args = parser.parse_args()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    if args.config:
        opts = None
        if args.cfg_options:
            from mmengine.config import DictAction
            ns = argparse.Namespace()
            DictAction(option_strings=[], dest='o')(None, ns, args.cfg_options)
            opts = ns.o
        shape = args.shape or ((512, 512) if 'segmentation' in args.config
                               else (800, 1344))
        print(f'{args.config} at {shape[0]}x{shape[1]}'
              f'{" (deploy)" if args.deploy else ""}')
        print('| part | params | GMACs |\n|---|---|---|')
        for part, f in config_figures(args.config, shape, opts,
                                      args.deploy).items():
            print(f'| {part} | {f["params"]:,} | {f["gmacs"]:.2f} |')
    else:
        shape = args.shape or (224, 224)
        print(f'SwiftFormer backbones at {shape[0]}x{shape[1]}'
              f'{" (deploy)" if args.deploy else ""}')
        print(arch_table(args.arch, shape, args.deploy))


if __name__ == '__main__':
    main()
