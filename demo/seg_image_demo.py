# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Segment one image with a trained segmentor and save a picture of the mask.

    python demo/seg_image_demo.py IMAGE CONFIG CHECKPOINT [--out FILE]
        [--device cpu] [--opacity 0.5]

Uses mmseg's ``MMSegInferencer``; the picture is the image with the predicted
mask blended over it in the dataset's palette (class names and palette come
from the checkpoint's ``dataset_meta``, as saved by the Runner). Prints the
share of the image each predicted class covers.
"""
import argparse
import os.path as osp

import numpy as np
from mmengine.config import Config

import swiftformer_mm  # noqa: F401  registers SwiftFormer, safe torch.load
from swiftformer_mm.inputs import load_image


def parse_args():
    parser = argparse.ArgumentParser(
        description='Save a picture of the predicted segmentation of IMAGE')
    parser.add_argument('image', help='image file')
    parser.add_argument('config', help='config file of the model')
    parser.add_argument('checkpoint', help='trained checkpoint')
    parser.add_argument(
        '--out', default='outputs/seg_demo.png',
        help='picture to write (default: %(default)s)')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    parser.add_argument('--opacity', type=float, default=0.5,
                        help='opacity of the mask over the image')
    return parser.parse_args()


def main():
    args = parse_args()
    for path, what in ((args.image, 'image'), (args.config, 'config'),
                       (args.checkpoint, 'checkpoint')):
        if not osp.isfile(path):
            raise FileNotFoundError(f'{what} file not found: {path!r}')
    cfg = Config.fromfile(args.config)

    import mmcv
    from mmseg.apis import MMSegInferencer
    inferencer = MMSegInferencer(
        model=cfg, weights=args.checkpoint, device=args.device)
    # Gray, RGBA and 16-bit images are converted to 8-bit BGR; unreadable or
    # too small ones stop here with a clear error.
    image = load_image(args.image)
    result = inferencer(image, return_vis=True, opacity=args.opacity)
    # one input: the inferencer unwraps its one-element lists
    picture = result['visualization']  # RGB
    mmcv.imwrite(np.ascontiguousarray(picture[..., ::-1]), args.out)

    pred = result['predictions']  # (H, W) class indices
    classes = inferencer.visualizer.dataset_meta['classes']
    ids, counts = np.unique(pred, return_counts=True)
    shares = ', '.join(f'{classes[i]} {100 * c / pred.size:.1f}%'
                       for i, c in sorted(zip(ids, counts),
                                          key=lambda ic: -ic[1]))
    print(f'predicted classes: {shares}')
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
