# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""A small, deterministic dataset in ADE20K's format, for demos and tests.

    python -m swiftformer_mm.demo_data.ade OUT_DIR [--num-train 64]
        [--num-val 16] [--seed 0]

writes the layout of ``ADEChallengeData2016``::

    OUT_DIR/images/{training,validation}/ADE_{train,val}_XXXXXXXX.jpg
    OUT_DIR/annotations/{training,validation}/ADE_{train,val}_XXXXXXXX.png
    OUT_DIR/demo_meta.json          classes, label ids, chance-level mIoU

Label PNGs follow ADE20K's convention: 0 is "other / unlabeled" and class
``k`` of ADE's 150 is stored as ``k + 1``, so mmseg's ``ADE20KDataset``
(``reduce_zero_label=True``) reads them unchanged. The scenes are street-like
pictures of a handful of real ADE classes (:data:`DEMO_CLASSES`), each with
its own colour and texture so a model trained for minutes on a CPU learns them;
give ``ADE20KDataset`` ``metainfo=dict(classes=DEMO_CLASSES)`` and mmseg maps
the ADE ids to ``0..len(DEMO_CLASSES)-1`` itself. Patches of "other" (label 0)
are included, so the ignore index is exercised too.

The output depends only on the arguments (numpy's seeded generator, OpenCV's
encoders); every file is written atomically (temporary file + rename), so an
interrupted run never leaves a truncated image for a later run to read.
"""
import argparse
import json
import os
import os.path as osp
import tempfile
from typing import Dict, Sequence

import cv2
import numpy as np

#: ADE20K class names (as in ``mmseg.datasets.ADE20KDataset.METAINFO``) and
#: their label values in ADE's PNGs (index in the 150 classes + 1).
ADE_LABELS: Dict[str, int] = {
    'building': 2,
    'sky': 3,
    'tree': 5,
    'road': 7,
    'grass': 10,
    'car': 21,
}
DEMO_CLASSES = tuple(ADE_LABELS)
UNLABELED = 0

SPLITS = (('training', 'train'), ('validation', 'val'))


def _write_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and
    ``os.replace``, so readers see the old file or the whole new one."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.' + osp.basename(path),
                               suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.unlink(tmp)
        raise


def _encode(ext: str, array: np.ndarray) -> bytes:
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if ext == '.jpg' else []
    ok, buf = cv2.imencode(ext, array, params)
    if not ok:
        raise RuntimeError(f'OpenCV could not encode a {ext} image')
    return buf.tobytes()


def _noise(rng, shape, std):
    return rng.normal(0.0, std, shape)


def _paint(img, label, mask, ade_id, colour, texture):
    img[mask] = colour + texture[mask]
    label[mask] = ade_id


def make_scene(rng: np.random.Generator):
    """One street-like scene: (BGR uint8 image, ADE label uint8 map)."""
    h = int(rng.integers(96, 145))
    w = int(rng.integers(128, 193))
    img = np.zeros((h, w, 3), np.float64)
    label = np.zeros((h, w), np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    horizon = int(rng.integers(int(0.3 * h), int(0.55 * h)))

    # sky: blue, brighter towards the horizon, smooth
    sky = yy < horizon
    grad = (yy / max(horizon, 1))[..., None] * np.array([10., 30., 50.])
    sky_colour = np.array([210., 150., 90.]) + rng.uniform(-15, 15, 3)
    _paint(img, label, sky, ADE_LABELS['sky'], sky_colour,
           grad + _noise(rng, (h, w, 3), 3))

    # grass: the ground, light green with fine vertical streaks
    ground = ~sky
    streaks = np.sin(xx * 1.7 + rng.uniform(0, 6))[..., None] * np.array(
        [8., 18., 8.])
    grass_colour = np.array([50., 160., 70.]) + rng.uniform(-15, 15, 3)
    _paint(img, label, ground, ADE_LABELS['grass'], grass_colour,
           streaks + _noise(rng, (h, w, 3), 8))

    # road: a dark band (or trapezoid) at the bottom with a dashed lane mark
    road = np.zeros((h, w), bool)
    if rng.random() < 0.85:
        top = int(rng.integers(horizon + (h - horizon) // 4,
                               horizon + 2 * (h - horizon) // 3))
        slope = rng.uniform(-0.6, 0.6)
        left = (top - yy) * slope * 0.5
        road = (yy >= top) & (xx >= left) & (xx < w - left)
        road_colour = np.array([70., 70., 72.]) + rng.uniform(-10, 10)
        tex = _noise(rng, (h, w, 3), 5)
        lane = (np.abs(xx - w / 2) < 2) & ((yy // 6) % 2 == 0)
        tex[lane] += 150.
        _paint(img, label, road, ADE_LABELS['road'], road_colour, tex)

    # buildings: grey/beige boxes standing on the horizon, windows in a grid
    for _ in range(int(rng.integers(0, 4))):
        bw = int(rng.integers(16, 50))
        bh = int(rng.integers(int(0.3 * horizon) + 1, horizon + 1))
        x0 = int(rng.integers(0, w - bw))
        base = horizon + int(rng.integers(0, 6))
        box = (xx >= x0) & (xx < x0 + bw) & (yy >= base - bh) & (yy < base)
        colour = np.array([150., 160., 170.]) + rng.uniform(-30, 30, 3)
        tex = _noise(rng, (h, w, 3), 4)
        windows = ((xx - x0) % 8 < 4) & ((yy - base) % 10 < 5)
        tex[windows] -= 90.
        _paint(img, label, box, ADE_LABELS['building'], colour, tex)

    # trees: dark, strongly textured crowns on a trunk
    for _ in range(int(rng.integers(0, 4))):
        r = int(rng.integers(7, 19))
        cx = int(rng.integers(0, w))
        cy = horizon - int(rng.integers(0, r + 1))
        crown = (xx - cx)**2 + ((yy - cy) * 1.2)**2 < r * r
        trunk = (np.abs(xx - cx) < max(r // 5, 2)) & (yy >= cy) & (
            yy < cy + r + int(rng.integers(4, 12)))
        colour = np.array([30., 90., 30.]) + rng.uniform(-10, 10, 3)
        tex = _noise(rng, (h, w, 3), 22)
        tex[trunk & ~crown] = np.array([-10., 0., 40.])
        _paint(img, label, crown | trunk, ADE_LABELS['tree'], colour, tex)

    # cars: saturated boxes with dark wheels, on the road when there is one
    for _ in range(int(rng.integers(0, 3))):
        cw, ch = int(rng.integers(24, 42)), int(rng.integers(10, 17))
        ys, xs = np.nonzero(road if road.any() else ground)
        k = int(rng.integers(0, len(ys)))
        x0, y1 = min(int(xs[k]), w - cw), max(int(ys[k]), ch)
        body = (xx >= x0) & (xx < x0 + cw) & (yy >= y1 - ch) & (yy < y1)
        hue = int(rng.integers(0, 180))
        colour = cv2.cvtColor(np.uint8([[[hue, 230, 220]]]),
                              cv2.COLOR_HSV2BGR)[0, 0].astype(np.float64)
        tex = _noise(rng, (h, w, 3), 4)
        wheels = body & (yy >= y1 - 4) & (((xx - x0) % (cw - 8)) < 6)
        tex[wheels] = -colour + 20.
        _paint(img, label, body, ADE_LABELS['car'], colour, tex)

    # "other" (ADE label 0, ignored in training and evaluation)
    if rng.random() < 0.5:
        r = int(rng.integers(5, 12))
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        blob = (xx - cx)**2 + (yy - cy)**2 < r * r
        _paint(img, label, blob, UNLABELED, rng.uniform(0, 255, 3),
               _noise(rng, (h, w, 3), 30))

    img = img * rng.uniform(0.85, 1.15) + _noise(rng, (h, w, 3), 3)
    return np.clip(img, 0, 255).astype(np.uint8), label


def chance_miou(labels: Sequence[np.ndarray],
                ade_ids: Sequence[int]) -> Dict[str, float]:
    """mIoU (in %) of predictors that ignore the image, on these labels.

    ``uniform``: each pixel gets a class drawn uniformly at random (expected
    IoU of class c with pixel share p: ``(p/K) / (p + 1/K - p/K)``);
    ``majority``: every pixel gets the most frequent class (IoU = its share,
    0 for the others). Unlabeled pixels are ignored, as in mmseg's IoUMetric.
    """
    counts = np.array(
        [sum(int((lab == i).sum()) for lab in labels) for i in ade_ids],
        np.float64)
    share = counts / counts.sum()
    k = len(ade_ids)
    uniform = share / k / (share + 1 / k - share / k)
    return dict(uniform=100 * float(uniform.mean()),
                majority=100 * float(share.max() / k))


def generate(out_dir: str, num_train: int = 64, num_val: int = 16,
             seed: int = 0) -> dict:
    """Write the dataset to ``out_dir`` and return its metadata (also saved
    as ``out_dir/demo_meta.json``)."""
    if num_train < 1 or num_val < 1:
        raise ValueError(f'need at least one image per split, got '
                         f'num_train={num_train}, num_val={num_val}')
    counts = dict(training=num_train, validation=num_val)
    val_labels = []
    for split_id, (split, prefix) in enumerate(SPLITS):
        for i in range(counts[split]):
            rng = np.random.default_rng([seed, split_id, i])
            img, label = make_scene(rng)
            name = f'ADE_{prefix}_{i + 1:08d}'
            _write_atomic(osp.join(out_dir, 'images', split, name + '.jpg'),
                          _encode('.jpg', img))
            _write_atomic(
                osp.join(out_dir, 'annotations', split, name + '.png'),
                _encode('.png', label))
            if split == 'validation':
                val_labels.append(label)
    ids = [ADE_LABELS[c] for c in DEMO_CLASSES]
    meta = dict(
        classes=list(DEMO_CLASSES),
        ade_label_values=ids,
        num_train=num_train,
        num_val=num_val,
        seed=seed,
        val_chance_miou=chance_miou(val_labels, ids))
    _write_atomic(osp.join(out_dir, 'demo_meta.json'),
                  (json.dumps(meta, indent=2) + '\n').encode())
    return meta


def main(argv=None):
    parser = argparse.ArgumentParser(
        description='Generate a small ADE20K-format segmentation dataset.')
    parser.add_argument('out_dir',
                        help='where to write it (e.g. data/ade_demo)')
    parser.add_argument('--num-train', type=int, default=64)
    parser.add_argument('--num-val', type=int, default=16)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    meta = generate(args.out_dir, args.num_train, args.num_val, args.seed)
    chance = meta['val_chance_miou']
    print(f'wrote {args.num_train} training and {args.num_val} validation '
          f'images to {args.out_dir}; classes {", ".join(meta["classes"])}; '
          f'chance-level val mIoU: uniform {chance["uniform"]:.2f}, '
          f'majority class {chance["majority"]:.2f}')


if __name__ == '__main__':
    main()
