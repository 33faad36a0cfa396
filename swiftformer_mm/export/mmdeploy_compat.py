# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""mmdeploy 1.3.1 with torch 2.13 and OpenVINO 2026: what broke, mended here
and only while deploying (:func:`mmdeploy_patched`). mmdeploy is not copied.

1. ``torch.onnx.export`` defaults to the new dynamo exporter since torch
   2.9; mmdeploy's rewriters and symbolics are for the TorchScript exporter,
   which is still there with ``dynamo=False``. mmdeploy calls
   ``torch.onnx.export`` without the argument. (torch 2.1, mmdeploy's own
   torch, has no such argument and needs no mend.)
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
   this cost 1.2 mIoU. A deploy config that exports logits
   (``with_argmax=False``) gets :class:`LogitsSegmentationModel`, registered
   in mmdeploy's own registry of segmentation backend models (its
   ``codebase_config.model_type``, set by :func:`~.task.load_configs`),
   which does what mmseg does (:func:`~.seg_postprocess.logits_to_labels`);
   with ``resize_to_input=False`` too, the graph ends at the decode head
   and the host does both resizes.
6. mmdeploy's detection model hands a batch to the graph as one padded
   tensor, so every image of it is computed at the batch's padded size and
   its boxes are clipped to that size, not to the image's: a batch of
   different sizes gave other detections than mmdet. The deploy configs
   name :class:`PerSizeDetectionModel` (``model_type='end2end_per_size'``;
   :func:`~.task.load_configs` gives it to a config that says
   ``'end2end'``), which runs images of different sizes one by one, each at
   its own size, as mmdet runs one image, and cuts off the padding a data
   preprocessor added (mmdeploy's ``inference_model`` pads): the graph
   pads itself and clips the boxes to the image.
7. OpenVINO 2025+ removed the Model Optimizer (``mo``) that mmdeploy's
   converter runs, and ``openvino.inference_engine`` that its wrapper uses.
   The converter is replaced by ``openvino.convert_model`` on the ONNX file
   (:func:`~.backends.openvino.onnx_to_openvino`), the wrapper by :class:`OpenVINORuntimeWrapper` on ``openvino.Core``
   (both needed only while a model is exported or built: the wrapper it
   builds runs anywhere).
8. Leaving a rewrite context, mmdeploy pops from torch.fx's
   ``_wrapped_fns_to_patch`` as many entries as were added during the
   export, with ``list.pop(-1)``; since torch 2.x it is a dict
   (``KeyError: -1``). The entries added then are those of modules first
   imported during an export (timm's ``torch.fx.wrap`` calls, when mmdet
   imports it) and must stay; mmdeploy adds none to a dict. Its exit runs
   with the count taken at exit.

:func:`mmdeploy_patched` may be nested: only the outermost block applies and
removes the mends. Mends 1, 2, 3, 7 and 8 are for the upstream versions
:data:`MENDS` names, and each is applied only where its check finds the
installed versions still need it (:func:`needed_mends`); another mmdeploy
than :data:`MMDEPLOY_VERSION` gets a warning. 4 to 6 are this project's
graphs and models, registered under their own names.
"""
import contextlib
import functools
import importlib.util
import inspect
import warnings
from typing import Callable, Dict, NamedTuple, Optional, Sequence

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
                 output_names: Optional[Sequence[str]] = None,
                 config: Optional[Dict[str, object]] = None, **kwargs):
        import openvino as ov
        core = ov.Core()
        # fp32 as exported: on CPUs with bf16 units OpenVINO otherwise
        # computes in bf16 by default (1.4e-2 off the fp32 logits here).
        # ``config``: more CPU plugin properties, e.g. those the benchmark
        # times (analysis/deploy_benchmark.py)
        self.compiled = core.compile_model(
            core.read_model(ir_model_file), 'CPU',
            {'INFERENCE_PRECISION_HINT': 'f32', **(config or {})})
        super().__init__(list(output_names) if output_names else [
            out.get_any_name() for out in self.compiled.outputs])

    def forward(self, inputs: Dict[str, torch.Tensor]):
        results = self.compiled(
            {name: t.detach().cpu().numpy() for name, t in inputs.items()})
        # every name of an output: a tensor may carry several (the graph's
        # output name and an inner one), and which one get_any_name gives
        # differs between OpenVINO versions (2024.6: not 'labels')
        by_name = {name: value for out, value in results.items()
                   for name in out.get_names()}
        return {name: torch.from_numpy(by_name[name].copy())
                for name in self.output_names}


def _logits_segmentation_model():
    """:class:`LogitsSegmentationModel`, defined and registered on first
    use (mmdeploy's mmseg codebase imports mmseg)."""
    from mmdeploy.codebase.mmseg.deploy import segmentation_model
    from mmengine.structures import PixelData
    from mmdeploy.utils import get_codebase_config

    from .task import SEG_LOGITS_MODEL
    registry = vars(segmentation_model)['__BACKEND_MODEL']
    if SEG_LOGITS_MODEL in registry.module_dict:
        return registry.get(SEG_LOGITS_MODEL)

    @registry.register_module(SEG_LOGITS_MODEL)
    class LogitsSegmentationModel(segmentation_model.End2EndModel):
        """mmdeploy's segmentation ``End2EndModel`` for a graph that outputs
        logits: mmseg's post-processing on the host (see 5. above)."""

        def pack_result(self, batch_outputs, data_samples):
            codebase = get_codebase_config(self.deploy_cfg)
            for logits, data_sample in zip(batch_outputs, data_samples):
                labels = logits_to_labels(
                    logits, data_sample.metainfo,
                    align_corners=codebase.get('decode_align_corners', False),
                    threshold=codebase.get('decode_threshold', 0.3))
                data_sample.set_data(dict(pred_sem_seg=PixelData(data=labels)))
            return data_samples

    return LogitsSegmentationModel


def _per_size_detection_model():
    """:class:`PerSizeDetectionModel`, defined and registered on first use
    (mmdeploy's mmdet codebase imports mmdet)."""
    from mmdeploy.codebase.mmdet.deploy import object_detection_model

    from .task import DET_PER_SIZE_MODEL
    registry = vars(object_detection_model)['__BACKEND_MODEL']
    if DET_PER_SIZE_MODEL in registry.module_dict:
        return registry.get(DET_PER_SIZE_MODEL)

    @registry.register_module(DET_PER_SIZE_MODEL)
    class PerSizeDetectionModel(object_detection_model.End2EndModel):
        """mmdeploy's detection ``End2EndModel``; a batch of images of
        different sizes runs image by image, each cut from the host's padded
        batch at its own size (see 6. above)."""

        def forward(self, inputs, data_samples, mode='predict', **kwargs):
            shapes = {tuple(s.img_shape) for s in data_samples}
            if len(shapes) == 1:
                # without a data preprocessor's padding (mmdeploy's own
                # inference_model pads to the config's size divisor): the
                # graph pads itself and clips the boxes to the image
                h, w = shapes.pop()
                return super().forward(inputs[..., :h, :w], data_samples,
                                       mode, **kwargs)
            for i, sample in enumerate(data_samples):
                h, w = sample.img_shape
                super().forward(inputs[i:i + 1, :, :h, :w], [sample], mode,
                                **kwargs)
            return data_samples

    return PerSizeDetectionModel


def _openvino_build_wrapper(cls, backend_files, device='cpu',
                            input_names=None, output_names=None,
                            deploy_cfg=None, **kwargs):
    return OpenVINORuntimeWrapper(backend_files[0], output_names=output_names)


#: The mmdeploy release the mends are written for (its latest).
MMDEPLOY_VERSION = '1.3.1'


def _dynamo_by_default() -> bool:
    dynamo = inspect.signature(torch.onnx.export).parameters.get('dynamo')
    return dynamo is not None and dynamo.default is not False


def _cast_long_missing() -> bool:
    return any(not hasattr(m, '_cast_Long') for m in _opset9_modules())


def _ort_ops_bundle_other_runtime() -> bool:
    import onnxruntime
    from mmdeploy.backend.onnxruntime import wrapper as ort_wrapper
    return bool(ort_wrapper.get_ops_path()) and \
        not onnxruntime.__version__.startswith('1.15.')


def _openvino_without_inference_engine() -> bool:
    return importlib.util.find_spec('openvino') is not None and \
        importlib.util.find_spec('openvino.inference_engine') is None


def _fx_wraps_a_dict() -> bool:
    from mmdeploy.core.rewriters import function_rewriter
    return isinstance(function_rewriter._wrapped_fns_to_patch, dict)


class Mend(NamedTuple):
    """One mend of mmdeploy: its numbered item in the module docstring, what
    it changes, the upstream versions that need it, and the check, run on
    entering :func:`mmdeploy_patched`, of whether the installed ones still
    do."""
    item: int
    changes: str
    needed_with: str
    needed: Callable[[], bool]


MENDS = dict(
    dynamo=Mend(
        1, 'torch.onnx.export(dynamo=False)',
        f'mmdeploy {MMDEPLOY_VERSION} with torch >= 2.9 (the dynamo exporter '
        'by default)', _dynamo_by_default),
    cast_long=Mend(
        2, 'symbolic_opset9._cast_Long put back',
        f'mmdeploy {MMDEPLOY_VERSION} with torch 2.13 (torch 2.1 has it)',
        _cast_long_missing),
    ort_ops=Mend(
        3, "mmdeploy's ONNX Runtime ops library not loaded",
        f"mmdeploy {MMDEPLOY_VERSION}'s wheel (ops built on ONNX Runtime "
        '1.15) with another ONNX Runtime', _ort_ops_bundle_other_runtime),
    openvino=Mend(
        7, 'OpenVINO wrapper on openvino.Core',
        f'mmdeploy {MMDEPLOY_VERSION} with OpenVINO 2024.6 and 2026 (no '
        'openvino.inference_engine)', _openvino_without_inference_engine),
    fx_wraps=Mend(
        8, "FunctionRewriter.exit keeps torch.fx's wraps",
        f'mmdeploy {MMDEPLOY_VERSION} with torch 2.x (a dict of wraps, '
        'popped as a list)', _fx_wraps_a_dict),
)


def needed_mends() -> Dict[str, bool]:
    """Which of :data:`MENDS` the installed torch, ONNX Runtime, OpenVINO
    and mmdeploy need (:func:`mmdeploy_patched` applies only those)."""
    return {key: mend.needed() for key, mend in MENDS.items()}


def _check_mmdeploy_version() -> None:
    import mmdeploy
    if mmdeploy.__version__ != MMDEPLOY_VERSION:
        warnings.warn(
            f'swiftformer_mm mends mmdeploy {MMDEPLOY_VERSION}; this is '
            f'mmdeploy {mmdeploy.__version__}. Each mend checks whether it '
            'is still needed (swiftformer_mm.export.mmdeploy_compat.'
            'needed_mends()), but the rewrites were tested on '
            f'{MMDEPLOY_VERSION} only: pip install mmdeploy=='
            f'{MMDEPLOY_VERSION} --no-deps for the tested stack.')


_DEPTH = [0]  # how many mmdeploy_patched blocks are open


@contextlib.contextmanager
def mmdeploy_patched():
    """Apply the mends above for the duration of a deployment step; a nested
    block changes nothing (the outermost one applies and removes them)."""
    if _DEPTH[0]:
        _DEPTH[0] += 1
        try:
            yield
        finally:
            _DEPTH[0] -= 1
        return
    mend_mmpretrain_multimodal()  # mmdeploy's mmdet imports mmpretrain
    from . import rewriters  # registers them, inactive until here
    from mmdeploy.core.rewriters import function_rewriter
    _check_mmdeploy_version()
    needed = needed_mends()
    _logits_segmentation_model()
    _per_size_detection_model()
    added = [m for m in _opset9_modules() if not hasattr(m, '_cast_Long')] \
        if needed['cast_long'] else []
    for module in added:
        module._cast_Long = _cast_long
    export = torch.onnx.export
    if needed['dynamo']:
        torch.onnx.export = functools.partial(export, dynamo=False)

    from mmdeploy.backend.onnxruntime import wrapper as ort_wrapper
    from mmdeploy.backend.openvino import backend_manager as ov_manager
    rewriter_exit = function_rewriter.FunctionRewriter.exit

    def exit_keeping_fx_wraps(self):
        self._ori_fx_wrap_num = len(function_rewriter._wrapped_fns_to_patch)
        return rewriter_exit(self)

    saved = []
    if needed['ort_ops']:
        saved.append((ort_wrapper, 'get_ops_path', ort_wrapper.get_ops_path))
        ort_wrapper.get_ops_path = lambda: ''
    if needed['openvino']:
        saved.append((ov_manager.OpenVINOManager, 'build_wrapper',
                      ov_manager.OpenVINOManager.__dict__['build_wrapper']))
        ov_manager.OpenVINOManager.build_wrapper = classmethod(
            _openvino_build_wrapper)
    if needed['fx_wraps']:
        saved.append((function_rewriter.FunctionRewriter, 'exit',
                      rewriter_exit))
        function_rewriter.FunctionRewriter.exit = exit_keeping_fx_wraps
    rewriters.Deploying.active = True
    _DEPTH[0] = 1
    try:
        yield
    finally:
        _DEPTH[0] = 0
        rewriters.Deploying.active = False
        torch.onnx.export = export
        for module in added:
            del module._cast_Long
        for owner, name, value in saved:
            setattr(owner, name, value)
