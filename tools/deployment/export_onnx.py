# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Export a SwiftFormer backbone to ONNX and check it with onnxruntime.

    python tools/deployment/export_onnx.py --arch l1 \
        --out work_dirs/swiftformer_l1.onnx \
        [--checkpoint CKPT] [--deploy] [--shape 224 224] [--dynamic] \
        [--attn-formula current] [--opset 17]

The model is the backbone alone (four feature maps out: ``stage0``..
``stage3``). ``--checkpoint`` takes any file the backbone loads (authors',
timm, Hugging Face, OpenMMLab with ``backbone.`` prefix, or a deploy
checkpoint with ``--deploy``); without it the weights are random (fine for
checking the graph and timing it). ``--dynamic`` makes batch, height and
width dynamic. After export, onnxruntime (CPU) runs the file on a random
input and the maximum difference to PyTorch, relative to the feature scale,
is printed; the tool exits with status 1 above ``--tolerance``.
"""
import argparse
import sys

import torch

from swiftformer_mm.export.onnx import to_onnx
from swiftformer_mm.models import SwiftFormer

OUTPUT_NAMES = ['stage0', 'stage1', 'stage2', 'stage3']


def export(model: torch.nn.Module, path: str, shape=(224, 224),
           dynamic: bool = False, opset: int = 17) -> None:
    """Trace ``model`` (eval mode) on a (1, 3, H, W) input into ``path``."""
    model.eval()
    x = torch.zeros(1, 3, *shape)
    n_out = len(model(x))
    names = OUTPUT_NAMES[:n_out]
    axes = None
    if dynamic:
        axes = {'input': {0: 'batch', 2: 'height', 3: 'width'}}
        axes.update({n: {0: 'batch', 2: f'{n}_h', 3: f'{n}_w'}
                     for n in names})
    # the exporter every deployment here uses (mmdeploy's, our mends)
    to_onnx(model, x, path, output_names=names, dynamic_axes=axes,
            opset=opset)


def check(model: torch.nn.Module, path: str, x: torch.Tensor) -> float:
    """Max |onnxruntime - PyTorch| over the feature scale, over all outputs."""
    import onnxruntime as ort
    sess = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    got = sess.run(None, {'input': x.numpy()})
    with torch.no_grad():
        expected = model.eval()(x)
    err = 0.0
    for a, b in zip(got, expected):
        a = torch.from_numpy(a)
        assert a.shape == b.shape, (a.shape, b.shape)
        err = max(err, ((a - b).abs().max() /
                        b.abs().max().clamp(min=1)).item())
    return err


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--arch', default='l1')
    parser.add_argument('--checkpoint')
    parser.add_argument('--deploy', action='store_true',
                        help='export the fused inference form')
    parser.add_argument('--attn-formula', default='current',
                        choices=['current', 'legacy'])
    parser.add_argument('--shape', type=int, nargs=2, default=[224, 224],
                        metavar=('H', 'W'))
    parser.add_argument('--dynamic', action='store_true')
    parser.add_argument('--opset', type=int, default=17)
    parser.add_argument('--out', required=True)
    parser.add_argument('--tolerance', type=float, default=1e-4)
    args = parser.parse_args()

    init_cfg = (dict(type='Pretrained', checkpoint=args.checkpoint)
                if args.checkpoint else None)
    model = SwiftFormer(args.arch, attn_formula=args.attn_formula,
                        init_cfg=init_cfg, deploy=args.deploy)
    model.init_weights()
    model.eval()
    export(model, args.out, tuple(args.shape), args.dynamic, args.opset)
    shapes = [tuple(args.shape)]
    if args.dynamic:
        shapes.append((args.shape[0] + 32, args.shape[1] + 64))
    worst = 0.0
    for h, w in shapes:
        x = torch.randn(2 if args.dynamic else 1, 3, h, w)
        err = check(model, args.out, x)
        worst = max(worst, err)
        print(f'{args.out}: onnxruntime vs PyTorch at {tuple(x.shape)}: '
              f'max relative difference {err:.2e}')
    sys.exit(0 if worst <= args.tolerance else 1)


if __name__ == '__main__':
    main()
