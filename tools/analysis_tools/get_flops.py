# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Parameters and GMACs of SwiftFormer backbones, detectors and segmentors.

Counted with mmengine's analysis (``mmengine.analysis``, fvcore's counting
rules: one multiply-add per MAC of conv/linear/matmul; elementwise ops such
as GELU and the L2 normalisations are not counted, as in the paper's figures).

    # every arch at 224x224, against the paper (default)
    python tools/analysis_tools/get_flops.py
    python tools/analysis_tools/get_flops.py --arch l1 --shape 800 1344 [--deploy]
    # a detector / segmentor config at its input size (H W)
    python tools/analysis_tools/get_flops.py --config configs/detection/mask_rcnn_swiftformer_l1.py --shape 800 1344
    python tools/analysis_tools/get_flops.py --config configs/segmentation/semantic_fpn_swiftformer_l1.py --shape 512 512

With ``--config``, the backbone's pretrained file is not needed (weights do
not change the count). The whole model is traced in ``tensor`` mode (for
Mask R-CNN: backbone, FPN, RPN head and the RoI heads on the RPN's
proposals, whose number depends on the weights, so that part is indicative);
the backbone and backbone+neck figures are exact.
"""
import argparse
import os

import torch

from swiftformer_mm.analysis.flops import (arch_figures, arch_table,
                                           config_figures)


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
    parser.add_argument('--record', action='store_true',
                        help='append the figures and their conditions to '
                        'docs/records/flops.jsonl')
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
        figures = config_figures(args.config, shape, opts, args.deploy)
        for part, f in figures.items():
            print(f'| {part} | {f["params"]:,} | {f["gmacs"]:.2f} |')
        key = dict(config=args.config, cfg_options=args.cfg_options)
    else:
        shape = args.shape or (224, 224)
        print(f'SwiftFormer backbones at {shape[0]}x{shape[1]}'
              f'{" (deploy)" if args.deploy else ""}')
        figures = arch_figures(args.arch, shape, args.deploy)
        print(arch_table(figures, shape))
        key = dict(archs=args.arch)
    if args.record:
        from swiftformer_mm.analysis import records
        records.append('flops', dict(key, shape=list(shape),
                                     deploy=args.deploy), figures)


if __name__ == '__main__':
    main()
