# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""mmdeploy 1.3.1 with torch 2.13 and OpenVINO 2026: what broke, mended here
and only while deploying (:func:`mmdeploy_patched`). mmdeploy is not copied.

1. ``torch.onnx.export`` defaults to the new dynamo exporter since torch
   2.9; mmdeploy's rewriters and symbolics are for the TorchScript exporter,
   which is still there with ``dynamo=False``. mmdeploy calls
   ``torch.onnx.export`` without the argument.
2. ``torch.onnx.symbolic_opset9._cast_Long`` was removed; mmdeploy's RoIAlign
   symbolic (every backend but TensorRT) imports it. Its body was one
   ``Cast`` to INT64, which mmcv's own RoIAlign symbolic still writes out.
3. mmdeploy loads its ONNX Runtime custom-op library into every session; that
   library links its own ONNX Runtime 1.15 next to the installed one. The
   graphs exported here use standard ONNX ops only (RoiAlign,
   NonMaxSuppression, ...; checked by the tests), so it is not loaded.
4. Where mmdeploy's graphs compute something else than mmdet/mmseg
   (sizes frozen by tracing, UPerNet's pooling, the RPN's and the RoI
   head's NMS, the DETR family's ``grid_sample``): the rewrites of
   :mod:`.rewriters`, which are active only inside :func:`mmdeploy_patched`.
5. mmdeploy's segmentation model takes the class map (argmax) first and
   resizes it to the image with nearest neighbours; mmseg crops the padding,
   resizes the logits bilinearly and then takes the argmax. On the demo set
   this cost 1.2 mIoU. With a deploy config that exports logits
   (``with_argmax=False``), :func:`_pack_seg_result` does what mmseg does
   (:func:`~.seg_postprocess.logits_to_labels`); with
   ``resize_to_input=False`` too, the graph ends at the decode head and the
   host does both resizes.
6. OpenVINO 2025+ removed the Model Optimizer (``mo``) that mmdeploy's
   converter runs, and ``openvino.inference_engine`` that its wrapper uses.
   The converter is replaced by ``openvino.convert_model`` on the ONNX file,
   the wrapper by :class:`OpenVINORuntimeWrapper` on ``openvino.Core``.
7. Leaving a rewrite context, mmdeploy pops from torch.fx's
   ``_wrapped_fns_to_patch`` as many entries as were added during the
   export, with ``list.pop(-1)``; since torch 2.x it is a dict
   (``KeyError: -1``). The entries added then are those of modules first
   imported during an export (timm's ``torch.fx.wrap`` calls, when mmdet
   imports it) and must stay; mmdeploy adds none to a dict. Its exit runs
   with the count taken at exit.
"""
import contextlib
import functools
import os.path as osp
from typing import Dict, Optional, Sequence

import torch
from mmdeploy.backend.base import BaseWrapper

from ..compat import mend_mmpretrain_multimodal
from .seg_postprocess import logits_to_labels


def _cast_long(g, input, non_blocking):  # noqa: A002 - torch's signature
    return g.op('Cast', input, to_i=torch.onnx.TensorProtoDataType.INT64)


def _opset9_modules():
    import torch.onnx.symbolic_opset9 as public
    modules = [public]
    with contextlib.suppress(ImportError):  # torch >= 2.9 keeps it here
        from torch.onnx._internal.torchscript_exporter import \
            symbolic_opset9 as internal
        modules.append(internal)
    return modules


class OpenVINORuntimeWrapper(BaseWrapper):
    """mmdeploy's backend-wrapper contract (``forward(dict) -> dict``) on
    ``openvino.Core``; replaces mmdeploy's ``OpenVINOWrapper``, which uses
    the removed ``openvino.inference_engine``."""

    def __init__(self, ir_model_file: str, weight_file: Optional[str] = None,
                 output_names: Optional[Sequence[str]] = None, **kwargs):
        import openvino as ov
        core = ov.Core()
        # fp32 as exported: on CPUs with bf16 units OpenVINO otherwise
        # computes in bf16 by default (1.4e-2 off the fp32 logits here).
        self.compiled = core.compile_model(
            core.read_model(ir_model_file), 'CPU',
            {'INFERENCE_PRECISION_HINT': 'f32'})
        super().__init__(list(output_names) if output_names else [
            out.get_any_name() for out in self.compiled.outputs])

    def forward(self, inputs: Dict[str, torch.Tensor]):
        results = self.compiled(
            {name: t.detach().cpu().numpy() for name, t in inputs.items()})
        by_name = {out.get_any_name(): value for out, value in results.items()}
        return {name: torch.from_numpy(by_name[name].copy())
                for name in self.output_names}


def onnx_to_openvino(onnx_file: str, work_dir: str) -> str:
    """``openvino.convert_model`` + ``save_model``; returns the .xml path.

    The weights are saved in fp32: ``save_model`` stores them as fp16 by
    default, which put the deployed logits 7e-4 of their scale off PyTorch.
    """
    import openvino as ov
    xml = osp.join(work_dir,
                   osp.splitext(osp.basename(onnx_file))[0] + '.xml')
    ov.save_model(ov.convert_model(onnx_file), xml, compress_to_fp16=False)
    return xml


def _pack_seg_result(self, batch_outputs, data_samples):
    """mmdeploy's ``End2EndModel.pack_result`` for segmentation, with
    mmseg's post-processing of logits (see 5. above)."""
    from mmengine.structures import PixelData
    from mmdeploy.utils import get_codebase_config
    codebase = get_codebase_config(self.deploy_cfg)
    if codebase.get('with_argmax', True):
        return _ORIGINAL['pack_result'](self, batch_outputs, data_samples)
    for logits, data_sample in zip(batch_outputs, data_samples):
        labels = logits_to_labels(
            logits, data_sample.metainfo,
            align_corners=codebase.get('decode_align_corners', False),
            threshold=codebase.get('decode_threshold', 0.3))
        data_sample.set_data(dict(pred_sem_seg=PixelData(data=labels)))
    return data_samples


_ORIGINAL = {}


def _openvino_build_wrapper(cls, backend_files, device='cpu',
                            input_names=None, output_names=None,
                            deploy_cfg=None, **kwargs):
    return OpenVINORuntimeWrapper(backend_files[0], output_names=output_names)


@contextlib.contextmanager
def mmdeploy_patched():
    """Apply the mends above for the duration of a deployment step."""
    mend_mmpretrain_multimodal()  # mmdeploy's mmdet imports mmpretrain
    from . import rewriters  # registers them, inactive until here
    from mmdeploy.core.rewriters import function_rewriter
    added = [m for m in _opset9_modules() if not hasattr(m, '_cast_Long')]
    for module in added:
        module._cast_Long = _cast_long
    export = torch.onnx.export
    torch.onnx.export = functools.partial(export, dynamo=False)

    from mmdeploy.backend.onnxruntime import wrapper as ort_wrapper
    from mmdeploy.backend.openvino import backend_manager as ov_manager
    from mmdeploy.codebase.mmseg.deploy import segmentation_model
    seg_model = segmentation_model.End2EndModel
    _ORIGINAL.setdefault('pack_result', seg_model.pack_result)
    rewriter_exit = function_rewriter.FunctionRewriter.exit

    def exit_keeping_fx_wraps(self):
        if isinstance(function_rewriter._wrapped_fns_to_patch, dict):
            self._ori_fx_wrap_num = len(function_rewriter._wrapped_fns_to_patch)
        return rewriter_exit(self)

    saved = [(ort_wrapper, 'get_ops_path', ort_wrapper.get_ops_path),
             (function_rewriter.FunctionRewriter, 'exit', rewriter_exit),
             (ov_manager.OpenVINOManager, 'build_wrapper',
              ov_manager.OpenVINOManager.__dict__['build_wrapper']),
             (seg_model, 'pack_result', _ORIGINAL['pack_result'])]
    ort_wrapper.get_ops_path = lambda: ''
    function_rewriter.FunctionRewriter.exit = exit_keeping_fx_wraps
    seg_model.pack_result = _pack_seg_result
    ov_manager.OpenVINOManager.build_wrapper = classmethod(
        _openvino_build_wrapper)
    rewriters.Deploying.active = True
    try:
        yield
    finally:
        rewriters.Deploying.active = False
        torch.onnx.export = export
        for module in added:
            del module._cast_Long
        for owner, name, value in saved:
            setattr(owner, name, value)
