# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""A host for the deployed ONNX models in nothing but ONNX Runtime, numpy
and OpenCV: no torch, no OpenMMLab package. It follows the host contract of
docs/deployment.md step by step, so that a host in another language (C++,
Java, C#, Rust, ...) can be written from it; tests/test_sdk.py checks that
it answers as this project's Python host does.

    python demo/onnxruntime_host.py {det,seg,cls} MODEL.onnx IMAGE... \
        --scale 1333 800 [--mean ...] [--std ...] [--resize-to-multiple 32] \
        [--score-thr 0.3] [--out results.npz]

``--scale`` is the model config's test ``Resize`` scale (keep-ratio; none
for a classifier that takes the image as it is); ``--mean``/``--std`` its
``data_preprocessor`` (default ImageNet's, in RGB order);
``--resize-to-multiple`` a test ``ResizeToMultiple``'s ``size_divisor``.
"""
import argparse
import math

import cv2
import numpy as np
import onnxruntime as ort

IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


def preprocess(bgr, scale=None, mean=IMAGENET_MEAN, std=IMAGENET_STD,
               size_divisor=None):
    """The network input ``(1, 3, H, W)`` float32 of a BGR uint8 image, and
    the scale factors ``(sx, sy)`` from the image to it.

    1. Resize keeping the aspect ratio so that the long side is at most
       ``max(scale)`` and the short side at most ``min(scale)``: factor
       ``min(max(scale) / max(h, w), min(scale) / min(h, w))``, new size
       ``int(w * factor + 0.5) x int(h * factor + 0.5)``, bilinear (OpenCV
       INTER_LINEAR on the uint8 image), as mmcv's ``imrescale``.
    2. (``size_divisor``) resize again to the next multiple of it on each
       side, bilinear (mmseg's ``ResizeToMultiple``).
    3. BGR to RGB, ``(x - mean) / std`` per channel, HWC to CHW.
    No padding: the graphs pad to their stride themselves.
    """
    h, w = bgr.shape[:2]
    img = bgr
    if scale:
        factor = min(max(scale) / max(h, w), min(scale) / min(h, w))
        size = (int(w * factor + 0.5), int(h * factor + 0.5))
        img = cv2.resize(img, size, interpolation=cv2.INTER_LINEAR)
    if size_divisor:
        rh, rw = img.shape[:2]
        size = (math.ceil(rw / size_divisor) * size_divisor,
                math.ceil(rh / size_divisor) * size_divisor)
        img = cv2.resize(img, size, interpolation=cv2.INTER_LINEAR)
    x = (img[..., ::-1].astype(np.float32) - np.float32(mean)) / \
        np.float32(std)
    return x.transpose(2, 0, 1)[None].copy(), (img.shape[1] / w,
                                                img.shape[0] / h)


def bilinear_matrix(out_size, in_size, start=0., length=None):
    """``(out_size, in_size)`` weights of a bilinear resize (half-pixel
    centres, ``align_corners=False``; samples outside the input weigh
    nothing) from ``in_size`` cells laid over ``[start, start + length)``
    of the output's pixels (default: the whole output)."""
    length = out_size if length is None else length
    u = (np.arange(out_size) + 0.5 - start) / length * in_size - 0.5
    low = np.floor(u).astype(int)
    frac = u - low
    weights = np.zeros((out_size, in_size))
    for idx, weight in ((low, 1 - frac), (low + 1, frac)):
        ok = (idx >= 0) & (idx < in_size)
        weights[np.flatnonzero(ok), idx[ok]] += weight[ok]
    return weights


def resize_bilinear(x, size):
    """``(C, h, w)`` to ``(C, H, W)``, bilinear, ``align_corners=False``
    (as torch's ``F.interpolate``; edges clamped)."""
    c, h, w = x.shape
    rows = bilinear_matrix(size[0], h)
    cols = bilinear_matrix(size[1], w)
    rows /= rows.sum(1, keepdims=True)  # clamp at the edges, as torch does
    cols /= cols.sum(1, keepdims=True)
    return np.einsum('Hh,chw,Ww->cHW', rows, x.astype(np.float64), cols)


def segment(session, bgr, **pre):
    """Labels ``(h, w)`` of the image: the graph's ``output`` is the decode
    head's logits ``(1, C, H/4, W/4)`` of the network input; resize them to
    the input, then to the image (both bilinear, ``align_corners=False``),
    and take the argmax over the classes (the first class wins a tie)."""
    x, _ = preprocess(bgr, **pre)
    (logits, ) = session.run(None, {'input': x})
    logits = logits[0]
    if logits.shape[-2:] != x.shape[-2:]:
        logits = resize_bilinear(logits, x.shape[-2:])
    return resize_bilinear(logits, bgr.shape[:2]).argmax(0)


def paste_mask(mask, box, shape):
    """A ``(28, 28)`` mask probability map pasted onto the image at
    ``box`` (image pixels) by bilinear sampling at every pixel's centre,
    zero outside the box (mmdet's ``_do_paste_mask``)."""
    x0, y0, x1, y1 = box
    rows = bilinear_matrix(shape[0], mask.shape[0], y0, y1 - y0)
    cols = bilinear_matrix(shape[1], mask.shape[1], x0, x1 - x0)
    return rows @ mask.astype(np.float64) @ cols.T


def detect(session, bgr, score_thr=0.3, **pre):
    """Boxes ``(K, 4)`` (x1, y1, x2, y2 in image pixels), scores, labels and,
    for Mask R-CNN, masks ``(K, h, w)`` (bool). The graph's ``dets``
    ``(1, K, 5)`` hold boxes in network-input pixels and scores; ``labels``
    ``(1, K)`` int64; ``masks`` ``(1, K, 28, 28)`` the mask probabilities
    inside each box. Divide the boxes by the scale factors, keep those
    scoring at least ``score_thr``, paste the masks and cut them at 0.5."""
    x, (sx, sy) = preprocess(bgr, **pre)
    outputs = session.run(None, {'input': x})
    dets, labels = outputs[0][0], outputs[1][0]
    keep = dets[:, 4] >= score_thr
    boxes = dets[keep, :4] / np.float32([sx, sy, sx, sy])
    result = dict(bboxes=boxes, scores=dets[keep, 4], labels=labels[keep])
    if len(outputs) > 2:
        masks = outputs[2][0][keep]
        result['masks'] = np.stack(
            [paste_mask(m, b, bgr.shape[:2]) >= 0.5
             for m, b in zip(masks, boxes)]) if len(boxes) else \
            np.zeros((0, *bgr.shape[:2]), bool)
    return result


def classify(session, bgr, **pre):
    """Class scores ``(C,)``: the graph's ``output`` ``(1, C)`` is already
    the softmax."""
    x, _ = preprocess(bgr, **pre)
    return session.run(None, {'input': x})[0][0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('task', choices=['det', 'seg', 'cls'])
    parser.add_argument('model', help='the deployed .onnx file')
    parser.add_argument('images', nargs='+')
    parser.add_argument('--scale', type=int, nargs=2)
    parser.add_argument('--mean', type=float, nargs=3, default=IMAGENET_MEAN)
    parser.add_argument('--std', type=float, nargs=3, default=IMAGENET_STD)
    parser.add_argument('--resize-to-multiple', type=int)
    parser.add_argument('--score-thr', type=float, default=0.3)
    parser.add_argument('--out', help='save the results here (.npz)')
    args = parser.parse_args()
    session = ort.InferenceSession(args.model,
                                   providers=['CPUExecutionProvider'])
    pre = dict(scale=args.scale, mean=args.mean, std=args.std,
               size_divisor=args.resize_to_multiple)
    saved = {}
    for i, path in enumerate(args.images):
        bgr = cv2.imread(path)
        if bgr is None:
            raise SystemExit(f'cannot read image {path!r}')
        if args.task == 'det':
            result = detect(session, bgr, args.score_thr, **pre)
            print(f'{path}: {len(result["scores"])} detections scoring at '
                  f'least {args.score_thr}')
        elif args.task == 'seg':
            result = dict(labels=segment(session, bgr, **pre))
            print(f'{path}: classes {np.unique(result["labels"]).tolist()}')
        else:
            result = dict(scores=classify(session, bgr, **pre))
            print(f'{path}: class {int(result["scores"].argmax())} '
                  f'({result["scores"].max():.3f})')
        saved.update({f'{i}_{k}': v for k, v in result.items()})
    if args.out:
        np.savez(args.out, **saved)


if __name__ == '__main__':
    main()
