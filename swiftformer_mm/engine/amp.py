# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Mixed precision: fp16 with loss scaling on CUDA, bf16 autocast on CPU."""
import contextlib
import importlib
import threading

import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class CPUAmpOptimWrapper(OptimWrapper):
    """bf16 autocast for training on CPU.

    mmengine's ``AmpOptimWrapper`` asserts a GPU/NPU/MLU at construction, so
    it cannot run on a CPU at all. bf16 has fp32's exponent range, so no loss
    scaling is needed; the optimizer state and the master weights stay fp32.
    mmcv's compiled CPU ops take fp32 only; they get fp32 inputs inside
    :meth:`optim_context` (see :func:`mmcv_ops_in_fp32`), and nothing of
    mmcv is changed outside it.
    """

    def __init__(self, dtype='bfloat16', **kwargs):
        super().__init__(**kwargs)
        dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
        if dtype != torch.bfloat16:
            raise ValueError('CPU mixed precision supports bfloat16 only '
                             f'(torch CPU autocast), got {dtype}')
        self.cast_dtype = dtype

    @contextlib.contextmanager
    def optim_context(self, model):
        with super().optim_context(model), mmcv_ops_in_fp32(), \
                torch.autocast(device_type='cpu', dtype=self.cast_dtype):
            yield


# Open mmcv_ops_in_fp32() contexts, and what the outermost one replaced.
_fp32_lock = threading.Lock()
_fp32_depth = 0
_fp32_saved = []


def _fp32(t):
    return t.float() if isinstance(t, torch.Tensor) and \
        t.dtype == torch.bfloat16 else t


def _fp32_wrappers(nms, roi_align):
    """``nms`` and ``roi_align`` with bf16 inputs cast to fp32."""

    def nms_fp32(boxes, scores, *args, **kwargs):
        return nms(_fp32(boxes), _fp32(scores), *args, **kwargs)

    def roi_align_fp32(input, rois, *args, **kwargs):
        with torch.autocast('cpu', enabled=False):
            out = roi_align(_fp32(input), _fp32(rois), *args, **kwargs)
        return out.to(input.dtype)

    return nms_fp32, roi_align_fp32


@contextlib.contextmanager
def mmcv_ops_in_fp32():
    """Within the context, mmcv's ``nms`` and ``roi_align`` cast bf16 inputs
    to fp32; on leaving the outermost context the originals are back.

    mmcv's compiled CPU ops (nms, RoIAlign) take fp32 only, and under CPU
    autocast the features and scores reaching them are bf16. The functions
    are replaced in their defining modules, ``mmcv.ops.nms`` and
    ``mmcv.ops.roi_align``, because that is where the detectors reach them:
    ``batched_nms`` (RPN proposals, box post-processing) looks ``nms`` up by
    name in its module at each call, and ``RoIAlign.forward`` (mmdet's RoI
    extractors) calls its module's ``roi_align``. A name bound elsewhere
    (``from mmcv.ops import nms``) keeps the original: in mmdet, the mask
    targets (``BitmapMasks.crop_and_resize``, fp32 masks and boxes made
    from numpy arrays), GA-RPN and test-time augmentation, none of which
    Mask R-CNN training feeds bf16.

    The replacement is process-wide while any context is open (a counter
    makes nesting and concurrent training threads safe); the wrappers leave
    fp32 inputs as they are, so another thread calling the ops meanwhile
    gets the same results.
    """
    global _fp32_depth, _fp32_saved
    with _fp32_lock:
        if _fp32_depth == 0:
            try:
                nms_module = importlib.import_module('mmcv.ops.nms')
                roi_module = importlib.import_module('mmcv.ops.roi_align')
            except ImportError:  # pragma: no cover - mmcv without ops
                _fp32_saved = []
            else:
                nms, roi_align = nms_module.nms, roi_module.roi_align
                nms_fp32, roi_align_fp32 = _fp32_wrappers(nms, roi_align)
                _fp32_saved = [(nms_module, 'nms', nms),
                               (roi_module, 'roi_align', roi_align)]
                nms_module.nms = nms_fp32
                roi_module.roi_align = roi_align_fp32
        _fp32_depth += 1
    try:
        yield
    finally:
        with _fp32_lock:
            _fp32_depth -= 1
            if _fp32_depth == 0:
                for module, name, original in _fp32_saved:
                    setattr(module, name, original)
                _fp32_saved = []


def apply_amp(cfg: Config) -> None:
    """Switch the optimizer wrapper to mixed precision: fp16 with a dynamic
    loss scale on CUDA (mmengine's ``AmpOptimWrapper``), bf16 autocast on CPU
    (:class:`CPUAmpOptimWrapper`; mmengine's wrapper refuses to run on CPU)."""
    wrapper = cfg.optim_wrapper
    kind = wrapper.get('type', 'OptimWrapper')
    if kind not in ('OptimWrapper', 'AmpOptimWrapper', 'CPUAmpOptimWrapper'):
        raise ValueError(
            f"--amp works with OptimWrapper, not {wrapper.get('type')}")
    if torch.cuda.is_available():
        wrapper.type = 'AmpOptimWrapper'
        wrapper.setdefault('loss_scale', 'dynamic')
    else:
        wrapper.type = 'CPUAmpOptimWrapper'
        wrapper.pop('loss_scale', None)
        wrapper.dtype = 'bfloat16'
