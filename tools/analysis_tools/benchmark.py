# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Latency, throughput and memory of SwiftFormer, measured side by side.

Every comparison runs its candidates interleaved (round-robin, one call each
per repeat) in one process, and reports medians and ratios, so that load from
other processes on a shared machine hits all candidates alike. Run it on an
idle machine for absolute numbers; the ratios are the robust part.

    # backbone: ours (training form, deploy form) vs timm vs ResNet-50 trunk
    python tools/analysis_tools/benchmark.py backbone [--arch l1] [--device cpu|cuda]
        [--sizes 224x224 800x1344] [--batch 1 8] [--repeats 15] [--compile]
        [--channels-last]
    # per-image inference of Mask R-CNN (L1 vs R-50) and Semantic FPN
    python tools/analysis_tools/benchmark.py detector [--repeats 5]
    python tools/analysis_tools/benchmark.py segmentor [--repeats 5]
    # peak memory of a training step, with and without with_cp
    python tools/analysis_tools/benchmark.py memory [--arch l1] [--size 512x512 --batch 2]
    # whole models deployed vs PyTorch eager, end to end and network alone
    python tools/analysis_tools/benchmark.py deployed --task segmentor|detector [--arch l1]
        [--size 512x512] [--backends onnxruntime openvino onnxruntime-int8
         openvino-int8 executorch executorch-int8] [--calib 16]
    # the backbone alone, fp32 and INT8 recipes, ONNX Runtime and OpenVINO
    # (or ExecuTorch: --backends executorch)
    python tools/analysis_tools/benchmark.py quantized-backbone [--arch l1] [--size 512x512]
        [--backends onnxruntime openvino executorch]
    # where the backbone's time goes per op type, fp32 against INT8, in
    # ONNX Runtime and OpenVINO (their own profilers)
    python tools/analysis_tools/benchmark.py int8-ops [--arch l1] [--size 512x512]
    # training-step cost of keeping unread levels' norms in the graph
    python tools/analysis_tools/benchmark.py tie [--arch l1] [--size 512x512 --batch 2]
    # torch.compile: graph breaks of the backbone (training and deploy form)
    python tools/analysis_tools/benchmark.py compile [--arch xs]
    # where the time goes (torch.profiler), top ops of the deploy form
    python tools/analysis_tools/benchmark.py profile [--arch l1] [--size 800x1344]

Every mode that measures takes ``--record``: the figures and their conditions
(command, commit, date, CPU and its INT8 instructions, threads, load) are
appended to ``docs/records/benchmark.jsonl``, from which
``.dev_scripts/docs_tables.py`` makes the docs' tables.

The "authors' code" comparison: their model file no longer imports with
current timm (``timm.models.layers.helpers`` is gone); timm's
``swiftformer_*`` is a faithful port (same modules and math, its parity with
ours is tested in tests/test_parity.py), so timm stands in for it.

All models get the same random, non-trivial weights (timm's randomised, then
loaded into ours): timing does not depend on the values, except in the
detector's RoI stage, where ``score_thr=0`` makes every image carry the
maximum 100 detections into the mask head for both backbones.
"""
import argparse
import os

import torch

from swiftformer_mm.analysis import benchmark, deploy_benchmark


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('what', choices=['backbone', 'scaling', 'detector',
                                         'segmentor', 'memory', 'compile',
                                         'profile', 'tie', 'deployed',
                                         'int8-ops',
                                         'quantized-backbone'])
    parser.add_argument('--arch', default='l1')
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--sizes', nargs='+', default=['224x224', '800x1344'])
    parser.add_argument('--size', help='HxW for detector/segmentor/memory/'
                        'profile')
    parser.add_argument('--batch', type=int, nargs='+', default=None)
    parser.add_argument('--repeats', type=int, default=None)
    parser.add_argument('--threads', type=int, default=None,
                        help='torch threads (default: every core)')
    parser.add_argument('--compile', action='store_true',
                        help='also time the deploy form under torch.compile')
    parser.add_argument('--task', choices=['segmentor', 'detector',
                                           'classifier'],
                        help='deployed: which model (default segmentor)')
    parser.add_argument('--backends', nargs='+',
                        default=['onnxruntime', 'openvino'],
                        choices=['onnxruntime', 'openvino',
                                 'onnxruntime-int8', 'openvino-int8',
                                 'executorch', 'executorch-int8'],
                        help='deployed: runtimes to time; quantized-backbone: '
                        'runtimes whose fp32 and INT8 recipes to time '
                        '(default onnxruntime openvino)')
    parser.add_argument('--calib', type=int, default=16,
                        help='INT8: calibration images (demo sets)')
    parser.add_argument('--channels-last', action='store_true',
                        help='also time the deploy form in channels_last')
    parser.add_argument('--record', action='store_true',
                        help='append the figures and their conditions to '
                        'docs/records/benchmark.jsonl (the docs\' tables are '
                        'made from those records)')
    args = parser.parse_args()
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: no CUDA device')
    torch.set_num_threads(args.threads or (os.cpu_count() or 1))
    defaults = dict(backbone=([1, 8], 15), scaling=([1], 11),
                    detector=([1], 5), segmentor=([1], 7), memory=([2], 1),
                    compile=([1], 1), profile=([1], 1), tie=([2], 9),
                    deployed=([1], 7), **{'quantized-backbone': ([1], 15),
                                             'int8-ops': ([1], 10)})
    batch, repeats = defaults[args.what]
    args.batch = args.batch or batch
    args.repeats = args.repeats or repeats
    what = args.what.replace('-', '_')
    module = deploy_benchmark if what in (
        'deployed', 'quantized_backbone', 'int8_ops') else benchmark
    figures = getattr(module, f'bench_{what}')(args)
    if args.record:
        if not figures:
            parser.error(f'{args.what} prints a report, no figures to record')
        from swiftformer_mm.analysis import records
        records.append('benchmark', experiment_key(args), figures)


#: The input size each mode uses when --size is not given.
DEFAULT_SIZES = {'detector': '800x1344', 'segmentor': '512x512',
                 'memory': '512x512', 'tie': '512x512',
                 'quantized-backbone': '512x512', 'int8-ops': '512x512',
                 'profile': '800x1344',
                 ('deployed', 'classifier'): '224x224',
                 ('deployed', 'segmentor'): '512x512',
                 ('deployed', 'detector'): '800x1344'}


def experiment_key(args) -> dict:
    """What identifies a measurement: runs with the same key are repeats of
    one experiment (a speed ratio is stated from at least two)."""
    key = dict(mode=args.what, arch=args.arch, device=args.device,
               repeats=args.repeats, batch=args.batch)
    if args.what == 'backbone':
        key.update(sizes=args.sizes, channels_last=args.channels_last,
                   compile=args.compile)
    if args.what in ('detector', 'segmentor', 'memory', 'tie', 'deployed',
                     'quantized-backbone', 'int8-ops', 'profile'):
        key['size'] = args.size or DEFAULT_SIZES.get(
            (args.what, args.task or 'segmentor'), DEFAULT_SIZES.get(args.what))
    if args.what == 'deployed':
        key.update(task=args.task or 'segmentor',
                   backends=sorted(args.backends))
    if args.what == 'quantized-backbone':
        key['runtimes'] = sorted({b.replace('-int8', '')
                                  for b in args.backends})
    if args.what in ('deployed', 'quantized-backbone', 'int8-ops'):
        key['calib'] = args.calib
    return key


if __name__ == '__main__':
    main()
