# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""A small, deterministic image-classification dataset in ImageNet's folder
layout: one shape per image, of 3 shapes x 2 textures = 6 classes.

Each image shows one circle, triangle or square (random size, position,
rotation, colour), filled solid or with stripes (random period and
direction), on the varied backgrounds of :mod:`.coco`. Telling the classes
apart needs both the outline and the texture.

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

from .coco import (_background, _object_colour, _polygon, _SHIFT,
                   _write_json, _write_png)

SHAPES = ('circle', 'triangle', 'square')
TEXTURES = ('solid', 'striped')
CLASSES = tuple(f'{shape}_{texture}' for shape in SHAPES
                for texture in TEXTURES)
SPLIT_SEEDS = {'train': 10, 'val': 11}


def draw_image(rng: np.random.Generator, label: int,
               size: int = 64) -> np.ndarray:
    """One BGR uint8 image of class ``CLASSES[label]``."""
    shape, texture = CLASSES[label].split('_')
    img = _background(rng, size, size)
    radius = rng.uniform(0.25, 0.45) * size
    cx, cy = rng.uniform(radius, size - radius, size=2)
    poly = _polygon(shape, cx, cy, radius, rng.uniform(0, 2 * math.pi))
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [np.round(poly * (1 << _SHIFT)).astype(np.int32)], 1,
                 lineType=cv2.LINE_8, shift=_SHIFT)
    inside = mask.astype(bool)
    colour = _object_colour(rng, img[inside])
    fill = np.broadcast_to(colour, img.shape).copy()
    if texture == 'striped':
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        theta = rng.uniform(0, math.pi)
        period = rng.uniform(5, 10)
        on = np.sin((xx * math.cos(theta) + yy * math.sin(theta)) * 2 *
                    math.pi / period) > 0
        fill[on] = 255 - colour
    img[inside] = fill[inside]
    img += rng.normal(0, 6, size=img.shape)
    img = np.clip(np.round(img), 0, 255).astype(np.uint8)
    return img[..., ::-1].copy()


def generate_split(out_dir: str, split: str, per_class: int,
                   size: int = 64) -> None:
    settings = dict(per_class=per_class, size=size, classes=list(CLASSES))
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
             val_per_class: int = 25, size: int = 64) -> None:
    generate_split(out_dir, 'train', train_per_class, size)
    generate_split(out_dir, 'val', val_per_class, size)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('out_dir')
    parser.add_argument('--train-per-class', type=int, default=80)
    parser.add_argument('--val-per-class', type=int, default=25)
    parser.add_argument('--size', type=int, default=64)
    args = parser.parse_args(argv)
    generate(args.out_dir, args.train_per_class, args.val_per_class,
             args.size)
    print(f'{len(CLASSES)} classes {list(CLASSES)}: '
          f'{args.train_per_class * len(CLASSES)} train, '
          f'{args.val_per_class * len(CLASSES)} val images -> {args.out_dir}')


if __name__ == '__main__':
    main()
