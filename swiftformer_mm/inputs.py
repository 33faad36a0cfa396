# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Reading user images for inference: any channel layout in, 3 channels out.

OpenMMLab pipelines expect 8-bit, 3-channel BGR images of at least the
network's total stride (32 px). Photos a user points the demo tools at may be
grayscale, carry an alpha channel, be 16-bit, or be tiny; here each is either
converted (the friendly cases) or refused with a message saying what to do.
"""
import os.path as osp

import cv2
import numpy as np

#: SwiftFormer's total stride: the smallest side a network input may have.
MIN_SIZE = 32


class ImageError(ValueError):
    """An image that cannot be used; the message says why and what to do."""


def to_three_channels(img: np.ndarray, source: str = 'image') -> np.ndarray:
    """Convert an image array in BGR(A) or gray layout to 8-bit 3-channel BGR.

    * gray ``(H, W)`` or ``(H, W, 1)``: replicated to three channels;
    * BGRA ``(H, W, 4)``: composited over a white background (transparent
      pixels carry arbitrary colour, often black, which the model would see);
    * 16-bit or float images: scaled to 0..255 (floats are taken as 0..1
      when their maximum is at most 1).
    """
    if not isinstance(img, np.ndarray) or img.ndim not in (2, 3) or (
            img.ndim == 3 and img.shape[2] not in (1, 3, 4)):
        shape = getattr(img, 'shape', None)
        raise ImageError(
            f'{source}: expected an image of shape (H, W), (H, W, 1), '
            f'(H, W, 3) or (H, W, 4), got {type(img).__name__} of shape '
            f'{shape}')
    if img.dtype == np.uint16:
        img = (img.astype(np.float32) / 257.).round().astype(np.uint8)
    elif img.dtype.kind == 'f':
        scale = 255. if float(np.nanmax(img)) <= 1. else 1.
        img = np.clip(np.nan_to_num(img) * scale, 0, 255).round().astype(
            np.uint8)
    elif img.dtype != np.uint8:
        raise ImageError(f'{source}: unsupported pixel type {img.dtype}; '
                         'expected uint8, uint16 or float')
    if img.ndim == 2 or img.shape[2] == 1:
        return cv2.cvtColor(img.reshape(img.shape[:2]), cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        alpha = img[..., 3:].astype(np.float32) / 255.
        rgb = img[..., :3].astype(np.float32)
        return (rgb * alpha + 255. * (1. - alpha)).round().astype(np.uint8)
    return np.ascontiguousarray(img)


def check_image_size(img: np.ndarray, source: str = 'image',
                     min_size: int = MIN_SIZE) -> None:
    """Refuse images with a side shorter than ``min_size`` pixels."""
    height, width = img.shape[:2]
    if min(height, width) < min_size:
        raise ImageError(
            f'{source} is {width}x{height} pixels; SwiftFormer needs at least '
            f'{min_size}x{min_size} (its total stride). Use a larger image, or '
            'upscale it first (e.g. cv2.resize to a short side of 256+).')


def load_image(path: str, channel_order: str = 'bgr',
               min_size: int = MIN_SIZE) -> np.ndarray:
    """Read ``path`` as an 8-bit 3-channel image (``'bgr'``, as OpenMMLab
    inferencers take arrays, or ``'rgb'``), converting gray, alpha and 16-bit
    images, and refusing unreadable or too-small ones with a clear error."""
    if channel_order not in ('bgr', 'rgb'):
        raise ValueError(f"channel_order must be 'bgr' or 'rgb', got "
                         f'{channel_order!r}')
    if not osp.isfile(path):
        raise FileNotFoundError(f'image not found: {path!r}')
    data = np.fromfile(path, dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise ImageError(
            f'{path} ({data.size} bytes) is not an image OpenCV can read '
            '(supported: PNG, JPEG, BMP, TIFF, WebP, ...); check the file.')
    img = to_three_channels(img, source=path)
    check_image_size(img, source=path, min_size=min_size)
    return img[..., ::-1].copy() if channel_order == 'rgb' else img


def load_rgb_image(path: str, min_size: int = MIN_SIZE) -> np.ndarray:
    """:func:`load_image` in RGB order."""
    return load_image(path, 'rgb', min_size)


#: What :func:`image_files` takes from a folder.
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


def image_files(inputs) -> list:
    """The image files named in ``inputs``, each folder expanded to the
    images in it (sorted); a missing path or a folder without images raises
    ``FileNotFoundError``."""
    import os
    files = []
    for path in inputs:
        if osp.isdir(path):
            found = sorted(osp.join(path, f) for f in os.listdir(path)
                           if f.lower().endswith(IMAGE_EXTENSIONS))
            if not found:
                raise FileNotFoundError(f'no image files in folder {path!r}')
            files += found
        elif osp.isfile(path):
            files.append(path)
        else:
            raise FileNotFoundError(f'{path!r} does not exist (resolved '
                                    f'from {osp.abspath(".")})')
    return files
