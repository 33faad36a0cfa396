# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""A small, deterministic COCO-format instance-segmentation dataset.

Images hold one to four solid shapes (circle, triangle, square; randomly
sized, rotated and coloured, never overlapping) on varied backgrounds (colour
gradients, faint stripes, noise). Every annotation's polygon is exactly the
polygon that was drawn, so masks and boxes are exact. Same arguments, same
bytes: each image is drawn from its own seeded generator.

    python -m swiftformer_mm.demo_data.coco data/demo_coco

writes::

    data/demo_coco/
        train/000000.png ...     val/000000.png ...
        annotations/instances_train.json
        annotations/instances_val.json

Images are written first and each annotation file last, atomically (temporary
file + rename), so an interrupted run never leaves an annotation file that
points at missing images. A split whose annotation file already records the
same settings is left as it is (a rerun takes milliseconds).
"""
import argparse
import json
import math
import os
import os.path as osp
import tempfile
from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np

CLASSES = ('circle', 'triangle', 'square')
FORMAT_VERSION = 1
SPLIT_SEEDS = {'train': 0, 'val': 1}
# cv2.fillPoly works on fixed-point vertices with this many fractional bits,
# so the drawn shape is the float polygon to 1/16 px.
_SHIFT = 4


def _polygon(cls: str, cx: float, cy: float, radius: float,
             angle: float) -> np.ndarray:
    """Vertices (N, 2) of a shape of circumradius ``radius``."""
    num_vertices = {'circle': 48, 'triangle': 3, 'square': 4}[cls]
    t = angle + np.arange(num_vertices) * 2 * math.pi / num_vertices
    return np.stack([cx + radius * np.cos(t), cy + radius * np.sin(t)], 1)


def _polygon_area(poly: np.ndarray) -> float:
    x, y = poly[:, 0], poly[:, 1]
    return float(0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _background(rng: np.random.Generator, height: int,
                width: int) -> np.ndarray:
    """Muted two-colour gradient in a random direction plus faint stripes."""
    c0, c1 = rng.uniform(40, 215, size=(2, 3))
    theta = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = (xx * math.cos(theta) + yy * math.sin(theta))
    ramp = (ramp - ramp.min()) / max(float(ramp.max() - ramp.min()), 1.)
    img = c0 + (c1 - c0) * ramp[..., None]
    period = rng.uniform(8, 40)
    phi = rng.uniform(0, 2 * math.pi)
    stripes = np.sin((xx * math.sin(theta) - yy * math.cos(theta)) * 2 *
                     math.pi / period + phi)
    img += rng.uniform(0, 20) * stripes[..., None]
    return img


def _object_colour(rng: np.random.Generator,
                   background: np.ndarray) -> np.ndarray:
    """A colour far (in RGB distance) from the background under the object."""
    mean = background.reshape(-1, 3).mean(0)
    best, best_dist = None, -1.
    for _ in range(16):
        colour = rng.uniform(0, 255, size=3)
        dist = float(np.linalg.norm(colour - mean))
        if dist > best_dist:
            best, best_dist = colour, dist
        if dist > 150:
            break
    return best


def draw_image(rng: np.random.Generator, height: int, width: int,
               min_radius: float, max_radius: float,
               max_objects: int) -> Tuple[np.ndarray, List[dict]]:
    """Draw one image (BGR uint8) and return it with its objects
    (``category_id``, ``polygon``)."""
    img = _background(rng, height, width)
    objects, discs = [], []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        for _attempt in range(50):
            radius = rng.uniform(min_radius, max_radius)
            cx = rng.uniform(radius, width - radius)
            cy = rng.uniform(radius, height - radius)
            # Circumscribed discs apart (with a 2 px gap): shapes never
            # overlap, so every mask stays the whole polygon.
            if all(math.hypot(cx - x, cy - y) > radius + r + 2
                   for x, y, r in discs):
                break
        else:
            continue
        discs.append((cx, cy, radius))
        label = int(rng.integers(len(CLASSES)))
        poly = _polygon(CLASSES[label], cx, cy, radius,
                        rng.uniform(0, 2 * math.pi))
        ys, xs = slice(int(cy - radius), int(cy + radius) + 1), slice(
            int(cx - radius), int(cx + radius) + 1)
        colour = _object_colour(rng, img[ys, xs])
        mask = np.zeros((height, width), np.uint8)
        cv2.fillPoly(mask, [np.round(poly * (1 << _SHIFT)).astype(np.int32)],
                     1, lineType=cv2.LINE_8, shift=_SHIFT)
        img[mask.astype(bool)] = colour
        objects.append(dict(category_id=label + 1, polygon=poly))
    img += rng.normal(0, 6, size=img.shape)
    img = np.clip(np.round(img), 0, 255).astype(np.uint8)
    return img[..., ::-1].copy(), objects  # RGB -> BGR for cv2


def _write_atomically(path: str, write) -> None:
    """Write via a temporary file in the same directory, then rename."""
    directory, name = osp.split(path)
    fd, tmp = tempfile.mkstemp(prefix=f'.{name}.', suffix=osp.splitext(name)[1],
                               dir=directory)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def _write_json(path: str, data: dict) -> None:
    def write(tmp):
        with open(tmp, 'w') as f:
            json.dump(data, f)
            f.flush()
            os.fsync(f.fileno())
    _write_atomically(path, write)


def _write_png(path: str, img: np.ndarray) -> None:
    def write(tmp):
        if not cv2.imwrite(tmp, img):
            raise OSError(f'could not write image {tmp}')
    _write_atomically(path, write)


def generate_split(out_dir: str, split: str, num_images: int,
                   image_size: Sequence[int] = (256, 256), seed: int = 0,
                   min_radius: float = 20., max_radius: float = 56.,
                   max_objects: int = 4) -> str:
    """Generate one split; return its annotation file path."""
    if split not in SPLIT_SEEDS:
        raise ValueError(f'split must be one of {sorted(SPLIT_SEEDS)}, '
                         f'got {split!r}')
    height, width = image_size
    if not 2 * max_radius + 4 <= min(height, width) or not \
            0 < min_radius <= max_radius:
        raise ValueError(
            f'need 0 < min_radius <= max_radius and shapes of diameter '
            f'2*max_radius={2 * max_radius} inside {height}x{width} images')
    settings = dict(format_version=FORMAT_VERSION, split=split,
                    num_images=num_images, height=height, width=width,
                    seed=seed, min_radius=min_radius, max_radius=max_radius,
                    max_objects=max_objects, classes=list(CLASSES))
    ann_file = osp.join(out_dir, 'annotations', f'instances_{split}.json')
    if osp.exists(ann_file):
        with open(ann_file) as f:
            if json.load(f).get('info', {}).get('settings') == settings:
                return ann_file
    os.makedirs(osp.join(out_dir, split), exist_ok=True)
    os.makedirs(osp.dirname(ann_file), exist_ok=True)

    images, annotations = [], []
    for index in range(num_images):
        rng = np.random.default_rng([seed, SPLIT_SEEDS[split], index])
        img, objects = draw_image(rng, height, width, min_radius, max_radius,
                                  max_objects)
        file_name = f'{index:06d}.png'
        _write_png(osp.join(out_dir, split, file_name), img)
        images.append(dict(id=index + 1, file_name=file_name, height=height,
                           width=width))
        for obj in objects:
            poly = obj['polygon']
            x0, y0 = poly.min(0)
            x1, y1 = poly.max(0)
            annotations.append(dict(
                id=len(annotations) + 1, image_id=index + 1,
                category_id=obj['category_id'],
                segmentation=[[round(float(v), 2) for v in poly.reshape(-1)]],
                area=round(_polygon_area(poly), 2),
                bbox=[round(float(v), 2) for v in (x0, y0, x1 - x0, y1 - y0)],
                iscrowd=0))
    coco = dict(
        info=dict(description='swiftformer_mm synthetic shapes '
                  f'({split})', settings=settings),
        images=images, annotations=annotations,
        categories=[dict(id=i + 1, name=name, supercategory='shape')
                    for i, name in enumerate(CLASSES)])
    _write_json(ann_file, coco)
    return ann_file


def generate(out_dir: str, num_train: int = 200, num_val: int = 40,
             image_size: Sequence[int] = (256, 256), seed: int = 0,
             **kwargs) -> Dict[str, str]:
    """Generate the train and val splits; return their annotation files."""
    return {
        split: generate_split(out_dir, split, num, image_size, seed, **kwargs)
        for split, num in (('train', num_train), ('val', num_val))
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description='Generate a small COCO-format instance-segmentation '
        'dataset of coloured shapes (deterministic, no download).')
    parser.add_argument('out_dir', help='output folder, e.g. data/demo_coco')
    parser.add_argument('--num-train', type=int, default=200)
    parser.add_argument('--num-val', type=int, default=40)
    parser.add_argument('--size', type=int, nargs=2, default=[256, 256],
                        metavar=('HEIGHT', 'WIDTH'))
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    files = generate(args.out_dir, args.num_train, args.num_val,
                     tuple(args.size), args.seed)
    for split, path in files.items():
        with open(path) as f:
            coco = json.load(f)
        print(f'{split}: {len(coco["images"])} images, '
              f'{len(coco["annotations"])} objects -> {path}')


if __name__ == '__main__':
    main()
