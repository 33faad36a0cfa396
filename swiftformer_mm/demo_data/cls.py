# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""A small, deterministic image-classification dataset in ImageNet's folder
layout, drawn from the same worlds as the detection and segmentation demos,
so that what a classifier learns on it transfers to them (the role ImageNet
plays for COCO and ADE20K):

* 3 shape classes, one shape per image, drawn as the detection demo draws
  its objects (:mod:`.coco`: solid circle, triangle or square of random size,
  rotation and colour on its backgrounds);
* 6 material classes, crops of the segmentation demo's street scenes
  (:mod:`.ade`: building, sky, tree, road, grass, car) centred on a pixel of
  the class, which covers at least a third of the crop.

    python -m swiftformer_mm.demo_data.cls data/demo_cls

writes ``data/demo_cls/{train,val}/<class>/NNNNN.png``, the layout of
mmpretrain's ``CustomDataset`` (and of ImageNet's train split). Files are
written atomically and a rerun with the same settings is skipped.
"""
import argparse
import json
import math
import os
import os.path as osp

import cv2
import numpy as np

from .ade import ADE_LABELS, make_scene
from .coco import (_background, _object_colour, _polygon, _SHIFT,
                   _write_json, _write_png)

SHAPES = ('circle', 'triangle', 'square')
MATERIALS = tuple(ADE_LABELS)
CLASSES = SHAPES + MATERIALS
SPLIT_SEEDS = {'train': 10, 'val': 11}
FORMAT_VERSION = 2
CROP = 40  # scene pixels per material crop (scenes are ~120x160)
MIN_COVER = 1 / 3


def draw_shape(rng: np.random.Generator, shape: str,
               size: int) -> np.ndarray:
    """One RGB float image of ``shape``, in the detection demo's style."""
    img = _background(rng, size, size)
    radius = rng.uniform(0.25, 0.45) * size
    cx, cy = rng.uniform(radius, size - radius, size=2)
    poly = _polygon(shape, cx, cy, radius, rng.uniform(0, 2 * math.pi))
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [np.round(poly * (1 << _SHIFT)).astype(np.int32)], 1,
                 lineType=cv2.LINE_8, shift=_SHIFT)
    inside = mask.astype(bool)
    img[inside] = _object_colour(rng, img[inside])
    img += rng.normal(0, 6, size=img.shape)
    return img


def crop_material(rng: np.random.Generator, material: str,
                  size: int) -> np.ndarray:
    """A crop of a segmentation-demo scene showing ``material`` (BGR)."""
    ade_id = ADE_LABELS[material]
    while True:
        img, label = make_scene(rng)
        h, w = label.shape
        ys, xs = np.nonzero(label[CROP // 2:h - CROP // 2,
                                  CROP // 2:w - CROP // 2] == ade_id)
        if not len(ys):
            continue
        for k in rng.permutation(len(ys))[:8]:
            y0, x0 = int(ys[k]), int(xs[k])  # window top-left
            window = label[y0:y0 + CROP, x0:x0 + CROP]
            if (window == ade_id).mean() >= MIN_COVER:
                crop = img[y0:y0 + CROP, x0:x0 + CROP]
                return cv2.resize(crop, (size, size),
                                  interpolation=cv2.INTER_LINEAR)


def draw_image(rng: np.random.Generator, label: int,
               size: int = 64) -> np.ndarray:
    """One BGR uint8 image of class ``CLASSES[label]``."""
    name = CLASSES[label]
    if name in SHAPES:
        img = draw_shape(rng, name, size)
        return np.clip(np.round(img), 0, 255).astype(np.uint8)[..., ::-1] \
            .copy()
    return crop_material(rng, name, size)


def generate_split(out_dir: str, split: str, per_class: int,
                   size: int = 64) -> None:
    settings = dict(format_version=FORMAT_VERSION, per_class=per_class,
                    size=size, classes=list(CLASSES))
    stamp = osp.join(out_dir, f'.{split}_settings.json')
    if osp.isfile(stamp):
        with open(stamp) as f:
            if json.load(f) == settings:
                return
    for label, name in enumerate(CLASSES):
        os.makedirs(osp.join(out_dir, split, name), exist_ok=True)
        for i in range(per_class):
            rng = np.random.default_rng(
                (SPLIT_SEEDS[split], label, i))  # own stream per image
            _write_png(osp.join(out_dir, split, name, f'{i:05d}.png'),
                       draw_image(rng, label, size))
    _write_json(stamp, settings)


def generate(out_dir: str, train_per_class: int = 80,
             val_per_class: int = 20, size: int = 64) -> None:
    generate_split(out_dir, 'train', train_per_class, size)
    generate_split(out_dir, 'val', val_per_class, size)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('out_dir')
    parser.add_argument('--train-per-class', type=int, default=80)
    parser.add_argument('--val-per-class', type=int, default=20)
    parser.add_argument('--size', type=int, default=64)
    args = parser.parse_args(argv)
    generate(args.out_dir, args.train_per_class, args.val_per_class,
             args.size)
    print(f'{len(CLASSES)} classes {list(CLASSES)}: '
          f'{args.train_per_class * len(CLASSES)} train, '
          f'{args.val_per_class * len(CLASSES)} val images -> {args.out_dir}')


if __name__ == '__main__':
    main()
