# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Segmentation logits to a label map, in mmseg's order, a few classes at a
time.

mmseg turns the decode head's logits (1/4 of the input) into labels by
resizing them to the network input, cropping the padding, resizing to the
original image and taking the argmax over the classes
(``BaseDecodeHead.predict_by_feat``, ``BaseSegmentor.postprocess_result``).
For ADE20K at 512x512 that is two 150-channel maps of 39M values each; on a
CPU the resizes and the argmax cost about as much as the network. Bilinear
resizing treats every channel on its own, so the same steps on a group of
channels give bitwise the same values as on all of them; keeping a running
maximum across the groups gives the same argmax (the first class wins a
tie, as in ``torch.argmax``). Nothing the size of the full-resolution
logits is ever held, and an equal-size resize (an exact identity) is
skipped.

Most classes cannot win anywhere in an image, and those need not be resized
at all. A resized value is a weighted mean (non-negative weights) of the
logits in a 3x3 window of the decode head's map (2x2 for one resize; two
resizes, each from a finer map, stay within 3x3). So a class whose maximum
over every such window stays below the best per-window minimum of some class
loses everywhere; only the others (a handful in a real scene) go through
the exact resize and argmax. The margin covers float rounding, so the result
is the same as resizing every class.
"""
import torch
import torch.nn.functional as F


def logits_to_labels(logits: torch.Tensor, metainfo: dict,
                     align_corners: bool = False, group: int = 16,
                     threshold: float = 0.3) -> torch.Tensor:
    """Labels ``(1, H, W)`` (int64, ``ori_shape``) of one image's logits.

    Args:
        logits (Tensor): ``(C, h, w)``, the decode head's output, or already
            at the network input's size.
        metainfo (dict): The image's ``img_shape``, ``ori_shape`` and, where
            set, ``pad_shape``, ``padding_size`` / ``img_padding_size`` and
            ``flip`` / ``flip_direction``, as mmseg records them.
        align_corners (bool): The decode head's ``align_corners``.
        group (int): Channels resized at a time.
        threshold (float): The decode head's ``threshold``, for a
            single-channel (binary, sigmoid) head.
    """
    num_classes = logits.shape[0]
    input_size = tuple(metainfo.get('pad_shape', metainfo['img_shape'])[:2])
    padding = metainfo.get('img_padding_size',
                           metainfo.get('padding_size', [0] * 4))
    left, right, top, bottom = padding
    ori_size = tuple(metainfo['ori_shape'][:2])

    def resized(part: torch.Tensor) -> torch.Tensor:
        part = part[None].float()
        if tuple(part.shape[-2:]) != input_size:
            part = F.interpolate(part, input_size, mode='bilinear',
                                 align_corners=align_corners)
        h, w = part.shape[-2:]
        part = part[..., top:h - bottom, left:w - right]
        if metainfo.get('flip'):
            dim = 3 if metainfo.get('flip_direction') == 'horizontal' else 2
            part = part.flip(dims=(dim, ))
        if tuple(part.shape[-2:]) != ori_size:
            part = F.interpolate(part, ori_size, mode='bilinear',
                                 align_corners=align_corners)
        return part[0]

    if num_classes == 1:
        return (resized(logits).sigmoid() > threshold).long()
    classes = possible_winners(logits)
    best = labels = None
    for start in range(0, len(classes), group):
        value, index = resized(logits[classes[start:start + group]]).max(
            dim=0)
        if best is None:
            best, labels = value, index
        else:
            better = value > best  # ties keep the earlier class
            best = torch.where(better, value, best)
            labels = torch.where(better, index + start, labels)
    return classes[labels][None]


def _window_3x3(x: torch.Tensor, op) -> torch.Tensor:
    """``op`` (max or min) over the 3x3 window of every pixel of
    ``(C, h, w)``, edges replicated; separable, as two passes of
    elementwise ops (max_pool2d is several times slower on CPU here)."""
    x = F.pad(x[None], (1, 1, 1, 1), mode='replicate')[0]
    x = op(op(x[:, :-2], x[:, 1:-1]), x[:, 2:])
    return op(op(x[:, :, :-2], x[:, :, 1:-1]), x[:, :, 2:])


def possible_winners(logits: torch.Tensor) -> torch.Tensor:
    """Indices, ascending, of the classes of ``(C, h, w)`` logits that can
    be the argmax somewhere after bilinear resizing (see the module
    docstring); the others are below another class everywhere."""
    x = logits.float()
    window_max = _window_3x3(x, torch.maximum)
    window_min = _window_3x3(x, torch.minimum)
    floor = window_min.amax(dim=0)
    margin = 1e-5 * float(x.abs().max()) + 1e-6
    can_win = (window_max >= floor - margin).flatten(1).any(dim=1)
    return can_win.nonzero()[:, 0]
