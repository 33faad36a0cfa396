# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""One picture of a trained detector's or segmentor's predictions beside the
ground truth, on the first images of its test set, at a size a person can
read:

    python tools/analysis_tools/show_predictions.py CONFIG CHECKPOINT \
        --out outputs/seg_demo.png [--num 3] [--scale 3] [--cfg-options ...]

Each row is one image: the ground truth on the left, the prediction on the
right, drawn by the library's own visualizer (mmdet's ``DetLocalVisualizer``,
mmseg's ``SegLocalVisualizer``) on the image enlarged ``--scale`` times
(nearest neighbour, so labels stay sharp); a legend of the classes and their
colours runs along the bottom.
"""
import argparse
import os.path as osp
import tempfile

import cv2
import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmengine.runner import Runner, load_checkpoint

from swiftformer_mm.checkpoint import atomic_write


def enlarge(data_sample, scale: int):
    """The sample's ground truth and prediction, ``scale`` times larger."""
    import torch.nn.functional as F
    from mmengine.structures import PixelData
    out = data_sample.clone()
    for key in ('gt_sem_seg', 'pred_sem_seg'):
        if key in out:
            data = getattr(out, key).data
            setattr(out, key, PixelData(data=F.interpolate(
                data[None].float(), scale_factor=scale,
                mode='nearest')[0].to(data.dtype)))
    for key in ('gt_instances', 'pred_instances'):
        if key in out:
            inst = getattr(out, key)
            inst.bboxes = inst.bboxes * scale
            if 'masks' in inst:
                masks = inst.masks
                if hasattr(masks, 'to_ndarray'):  # BitmapMasks / polygons
                    masks = masks.to_ndarray()
                masks = torch.as_tensor(np.asarray(masks))
                inst.masks = F.interpolate(
                    masks[None].float(), scale_factor=scale,
                    mode='nearest')[0].bool() if len(masks) else masks
    return out


def legend(classes, palette, width: int) -> np.ndarray:
    """A white strip with a coloured square and the name of every class."""
    cell, pad = 150, 8
    per_row = max(width // cell, 1)
    rows = (len(classes) + per_row - 1) // per_row
    strip = np.full((rows * 28 + pad, width, 3), 255, np.uint8)
    for i, (name, colour) in enumerate(zip(classes, palette)):
        x, y = (i % per_row) * cell + pad, (i // per_row) * 28 + pad
        cv2.rectangle(strip, (x, y), (x + 18, y + 18),
                      tuple(int(c) for c in colour[::-1]), -1)
        cv2.putText(strip, str(name), (x + 24, y + 15),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return strip


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out', required=True, help='the picture (.png)')
    parser.add_argument('--num', type=int, default=3,
                        help='test images to show')
    parser.add_argument('--scale', type=int, default=3,
                        help='enlarge the images this many times')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='detection: draw predictions scoring at least')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args()

    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.default_scope)
    registry = __import__(f'{cfg.default_scope}.registry',
                          fromlist=['MODELS', 'VISUALIZERS'])
    model = registry.MODELS.build(cfg.model)
    load_checkpoint(model, args.checkpoint, map_location='cpu')
    model.eval()
    loader = Runner.build_dataloader(cfg.test_dataloader)
    dataset = loader.dataset
    meta = dataset.metainfo
    visualizer = registry.VISUALIZERS.build(dict(
        type='DetLocalVisualizer' if cfg.default_scope == 'mmdet' else
        'SegLocalVisualizer', name='show_predictions', alpha=0.75))
    visualizer.dataset_meta = meta
    rows = []
    for batch in loader:
        with torch.no_grad():
            samples = model.test_step(batch)
        for sample in samples:
            image = cv2.imread(sample.img_path)[..., ::-1]
            image = cv2.resize(image, None, fx=args.scale, fy=args.scale,
                               interpolation=cv2.INTER_NEAREST)
            kwargs = dict(pred_score_thr=args.score_thr) \
                if cfg.default_scope == 'mmdet' else dict(with_labels=False)
            # out_file: mmseg's visualizer hands back the drawing only so
            with tempfile.TemporaryDirectory() as tmp:
                visualizer.add_datasample(
                    osp.basename(sample.img_path), image,
                    enlarge(sample, args.scale), draw_gt=True,
                    draw_pred=True, show=False,
                    out_file=osp.join(tmp, 'drawn.png'), **kwargs)
                drawn = cv2.imread(osp.join(tmp, 'drawn.png'))
            cv2.putText(drawn, 'ground truth', (8, 24),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2)
            cv2.putText(drawn, 'prediction', (drawn.shape[1] // 2 + 8, 24),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2)
            rows.append(drawn)
            if len(rows) == args.num:
                break
        if len(rows) == args.num:
            break
    width = max(r.shape[1] for r in rows)
    rows = [cv2.copyMakeBorder(r, 0, 6, 0, width - r.shape[1],
                               cv2.BORDER_CONSTANT, value=(255, 255, 255))
            for r in rows]
    picture = np.concatenate(
        rows + [legend(meta['classes'], meta['palette'], width)], 0)
    ok, encoded = cv2.imencode('.png', picture)
    atomic_write(encoded.tobytes(), args.out)
    print(f'{args.out}: {len(rows)} test images, ground truth | prediction, '
          f'{picture.shape[1]}x{picture.shape[0]} pixels')


if __name__ == '__main__':
    main()
