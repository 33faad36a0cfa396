# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Mixed precision: fp16 with loss scaling on CUDA, bf16 autocast on CPU."""
import contextlib

import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS

@OPTIM_WRAPPERS.register_module(force=True)
class CPUAmpOptimWrapper(OptimWrapper):
    """bf16 autocast for training on CPU.

    mmengine's ``AmpOptimWrapper`` asserts a GPU/NPU/MLU at construction, so
    it cannot run on a CPU at all. bf16 has fp32's exponent range, so no loss
    scaling is needed; the optimizer state and the master weights stay fp32.
    """

    def __init__(self, dtype='bfloat16', **kwargs):
        super().__init__(**kwargs)
        _mmcv_ops_in_fp32()
        dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
        if dtype != torch.bfloat16:
            raise ValueError('CPU mixed precision supports bfloat16 only '
                             f'(torch CPU autocast), got {dtype}')
        self.cast_dtype = dtype

    @contextlib.contextmanager
    def optim_context(self, model):
        with super().optim_context(model), torch.autocast(
                device_type='cpu', dtype=self.cast_dtype):
            yield


def _mmcv_ops_in_fp32() -> None:
    """mmcv's compiled CPU ops (nms, RoIAlign) take fp32 only; under CPU
    autocast they get bf16 tensors. Cast their inputs to fp32 (idempotent)."""
    import importlib
    try:  # the modules, not the functions mmcv.ops exports under their names
        nms_module = importlib.import_module('mmcv.ops.nms')
        roi_module = importlib.import_module('mmcv.ops.roi_align')
    except ImportError:  # pragma: no cover - mmcv without ops
        return
    if getattr(nms_module.nms, '_fp32_inputs', False):
        return

    def fp32(t):
        return t.float() if isinstance(t, torch.Tensor) and \
            t.dtype == torch.bfloat16 else t

    nms, roi_align = nms_module.nms, roi_module.roi_align

    def nms_fp32(boxes, scores, *args, **kwargs):
        return nms(fp32(boxes), fp32(scores), *args, **kwargs)

    def roi_align_fp32(input, rois, *args, **kwargs):
        with torch.autocast('cpu', enabled=False):
            out = roi_align(fp32(input), fp32(rois), *args, **kwargs)
        return out.to(input.dtype)

    nms_fp32._fp32_inputs = True
    nms_module.nms = nms_fp32
    roi_module.roi_align = roi_align_fp32


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
