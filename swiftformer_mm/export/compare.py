# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""How far a deployed model's prediction is from PyTorch's: on one image,
and (:func:`agreement`) over many."""
from typing import Dict, List, Tuple

import numpy as np


def prediction_arrays(result) -> Dict[str, np.ndarray]:
    """A data sample's prediction as numpy arrays, keyed by what it is."""
    if hasattr(result, 'pred_sem_seg'):
        out = dict(sem_seg=result.pred_sem_seg.data.cpu().numpy())
        if 'seg_logits' in result:  # mmseg's: how far each pixel is from a tie
            top2 = result.seg_logits.data.topk(2, dim=0).values
            out['margin'] = (top2[0] - top2[1]).cpu().numpy()
            out['logit_scale'] = float(result.seg_logits.data.abs().max())
        return out
    if 'pred_score' in result:
        return dict(class_scores=result.pred_score.cpu().numpy())
    inst = result.pred_instances
    out = dict(bboxes=inst.bboxes.cpu().numpy(),
               scores=inst.scores.cpu().numpy(),
               labels=inst.labels.cpu().numpy())
    if 'masks' in inst:
        out['masks'] = inst.masks.cpu().numpy().astype(bool)
    return out


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` (n, 4) with every box of ``b`` (m, 4)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).prod(-1)
    return inter / np.maximum(area_a[:, None] + area_b[None] - inter, 1e-9)


def compare(pytorch: Dict[str, np.ndarray], backend: Dict[str, np.ndarray],
            min_score: float = 0.3) -> Dict[str, float]:
    """How far a backend's prediction is from PyTorch's on one image.

    Segmentation: the share of pixels with the same label. Classification:
    the same top-1 class, and the largest class-score difference. Detection:
    every detection scoring at least ``min_score`` on either side is matched to
    the other side's detection of the same label with the highest IoU;
    ``min_matched_iou`` is the worst such match (1.0: the same boxes, 0.0:
    a detection without a counterpart), ``max_score_diff`` compares the
    matched scores.
    """
    if 'sem_seg' in pytorch:
        return dict(pixels_equal=float(
            (pytorch['sem_seg'] == backend['sem_seg']).mean()))
    if 'class_scores' in pytorch:
        a, b = pytorch['class_scores'], backend['class_scores']
        return dict(same_top1=float(a.argmax() == b.argmax()),
                    max_score_diff=float(np.abs(a - b).max()))
    stats = dict(detections_pytorch=int((pytorch['scores'] >= min_score).sum()),
                 detections_backend=int((backend['scores'] >= min_score).sum()))
    worst, score_diff = 1.0, 0.0
    for mine, other in ((pytorch, backend), (backend, pytorch)):
        keep = mine['scores'] >= min_score
        if not keep.any():
            continue
        iou = box_iou(mine['bboxes'][keep], other['bboxes'])
        iou = np.where(mine['labels'][keep][:, None] == other['labels'][None],
                       iou, 0.)
        best = iou.argmax(1) if iou.shape[1] else np.zeros(len(iou), int)
        matched = iou.max(1) if iou.shape[1] else np.zeros(len(iou))
        worst = min(worst, float(matched.min()))
        if iou.shape[1]:
            score_diff = max(score_diff, float(np.abs(
                mine['scores'][keep] - other['scores'][best]).max()))
    stats.update(min_matched_iou=worst, max_score_diff=score_diff)
    return stats


def off_edge_pixels(reference: np.ndarray, other: np.ndarray) -> int:
    """Pixels where two boolean masks differ that are not on the edge of
    ``reference`` (within one pixel of its boundary, inside or outside): a
    box shifted by a fraction of a pixel moves a mask's edge by a pixel,
    never its inside."""
    import cv2
    mask = reference.astype(np.uint8)
    kernel = np.ones((3, 3), np.uint8)
    edge = cv2.dilate(mask, kernel, borderType=cv2.BORDER_CONSTANT,
                      borderValue=0) > cv2.erode(
                          mask, kernel, borderType=cv2.BORDER_CONSTANT,
                          borderValue=0)
    return int(((reference != other) & ~edge).sum())


def match_detections(reference: Dict[str, np.ndarray],
                     other: Dict[str, np.ndarray], min_score: float = 0.3,
                     min_iou: float = 0.99) -> Dict[str, float]:
    """How many of the reference's detections scoring at least
    ``min_score`` the other prediction has: a detection of the same label
    with box IoU >= ``min_iou`` (the one of highest IoU). Returns
    ``matched`` and ``total``, and over the matched ones the lowest box IoU,
    the largest score difference and, with masks, the lowest mask IoU, the
    most pixels by which two masks differ and the most of them off the
    reference mask's edge (:func:`off_edge_pixels`)."""
    keep = np.flatnonzero(reference['scores'] >= min_score)
    stats = dict(matched=0, total=len(keep), min_iou=1.0, max_score_diff=0.0)
    if 'masks' in reference:
        stats.update(min_mask_iou=1.0, max_mask_pixels_diff=0,
                     max_mask_pixels_off_edge=0)
    if not len(keep):
        return stats
    iou = box_iou(reference['bboxes'][keep], other['bboxes'])
    iou = np.where(reference['labels'][keep][:, None] == other['labels'][None],
                   iou, 0.)
    for row, i in enumerate(keep):
        if not iou.shape[1] or iou[row].max() < min_iou:
            continue
        j = int(iou[row].argmax())
        stats['matched'] += 1
        stats['min_iou'] = min(stats['min_iou'], float(iou[row, j]))
        stats['max_score_diff'] = max(stats['max_score_diff'], float(abs(
            reference['scores'][i] - other['scores'][j])))
        if 'masks' in reference:
            a, b = reference['masks'][i], other['masks'][j]
            union = np.logical_or(a, b).sum()
            mask_iou = np.logical_and(a, b).sum() / union if union else 1.0
            stats['min_mask_iou'] = min(stats['min_mask_iou'],
                                        float(mask_iou))
            stats['max_mask_pixels_diff'] = max(
                stats['max_mask_pixels_diff'], int((a != b).sum()))
            stats['max_mask_pixels_off_edge'] = max(
                stats['max_mask_pixels_off_edge'], off_edge_pixels(a, b))
    return stats


def agreement(pairs: List[Tuple[dict, dict]],
              min_score: float = 0.3) -> Dict[str, float]:
    """How often the deployed model predicts what PyTorch does, in %, over
    ``(pytorch, deployed)`` pairs of :func:`prediction_arrays`
    (:func:`~.pipeline.predict_both`): for detectors, the share of
    PyTorch's detections scoring ``min_score`` or more that have a match of
    box IoU >= 0.9 and >= 0.95 (:func:`match_detections`; ``'detections'``
    is how many there are); for segmentors, of pixels given the same class;
    for classifiers, of images given the same top-1 class."""
    ref = pairs[0][0]
    if 'bboxes' in ref:
        out = {}
        for iou in (0.9, 0.95):
            stats = [match_detections(a, b, min_score, iou) for a, b in pairs]
            total = sum(s['total'] for s in stats)
            out[f'box IoU >= {iou}'] = round(100 * sum(
                s['matched'] for s in stats) / max(total, 1), 2)
        out['detections'] = total
        return out
    if 'sem_seg' in ref:
        same = sum(int((a['sem_seg'] == b['sem_seg']).sum()) for a, b in pairs)
        size = sum(a['sem_seg'].size for a, _ in pairs)
        return {'pixel labels': round(100 * same / size, 2)}
    same = sum(int(a['class_scores'].argmax() == b['class_scores'].argmax())
               for a, b in pairs)
    return {'top-1 labels': round(100 * same / len(pairs), 2)}
