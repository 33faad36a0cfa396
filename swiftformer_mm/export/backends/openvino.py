# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""OpenVINO: the standard-op ONNX graph (:mod:`..onnx`) converted to an IR
with ``openvino.convert_model``, INT8 by NNCF, run by mmdeploy's backend
models with :class:`~..mmdeploy_compat.OpenVINORuntimeWrapper`."""
import os
import os.path as osp
from typing import List

import torch
from mmengine.logging import print_log

from ..quantize import matching, matmuls_as_convs
from .base import DEPLOY_BACKENDS
from .onnxruntime import MMDeployBackend


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


def roi_align_empty_as_zero(onnx_file: str, out_file: str) -> int:
    """Follow each ``RoiAlign`` of the graph by ``Where(IsNaN(y), 0, y)``;
    returns how many; writes ``out_file`` only where there are any.

    For a RoI of zero size (mmdeploy's RoI extractor pads every level with
    such RoIs, and a detection can be one), OpenVINO's ROIAlign averages
    over no samples and returns NaN, where mmcv's and ONNX Runtime's return
    0. The NaN rows are dropped before the outputs, but NNCF's calibration
    statistics see them: the mask head's inputs got a NaN range and the
    INT8 Mask R-CNN lost every mask (mask AP 0).
    """
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper
    model = onnx.load(onnx_file)
    graph = model.graph
    nodes, count = [], 0
    for node in graph.node:
        nodes.append(node)
        if node.op_type != 'RoiAlign':
            continue
        out = node.output[0]
        raw, nan = f'{out}/with_nan', f'{out}/is_nan'
        node.output[0] = raw
        zero = f'{node.name}/zero'
        graph.initializer.append(numpy_helper.from_array(
            np.zeros((), np.float32), zero))
        nodes += [helper.make_node('IsNaN', [raw], [nan],
                                   name=f'{node.name}/IsNaN'),
                  helper.make_node('Where', [nan, zero, raw], [out],
                                   name=f'{node.name}/empty_as_zero')]
        count += 1
    if count:
        del graph.node[:]
        graph.node.extend(nodes)
        onnx.save(model, out_file)
    return count


def quantize(xml: str, inputs: List[torch.Tensor], out_xml: str,
             cfg: dict) -> str:
    """NNCF post-training quantization of an OpenVINO IR, calibrated on
    ``inputs``."""
    import nncf
    import openvino as ov
    model = ov.Core().read_model(xml)
    names = [op.get_friendly_name() for op in model.get_ops()]
    ignored = matching(names, cfg.get('ignored_patterns', []))
    kwargs = {}
    if cfg.get('preset'):
        kwargs['preset'] = getattr(nncf.QuantizationPreset,
                                   cfg['preset'].upper())
    if cfg.get('model_type'):
        kwargs['model_type'] = getattr(nncf.ModelType,
                                       cfg['model_type'].upper())
    # NNCF's (fast) bias correction fails on these graphs: on images of
    # different sizes (a dynamic-shape model on a keep-ratio pipeline) and on
    # the attention's fully-connected layers ("cannot reshape array of size
    # 1792 into shape (1,112,1)"); min/max statistics work.
    kwargs['advanced_parameters'] = nncf.AdvancedQuantizationParameters(
        disable_bias_correction=True)
    name = model.inputs[0].get_any_name()
    quantized = nncf.quantize(
        model, nncf.Dataset(inputs, lambda x: {name: x.numpy()}),
        subset_size=len(inputs),
        ignored_scope=nncf.IgnoredScope(names=ignored) if ignored else None,
        **kwargs)
    ov.save_model(quantized, out_xml, compress_to_fp16=False)
    return out_xml


@DEPLOY_BACKENDS.register_module('openvino')
class OpenVINOBackend(MMDeployBackend):
    name = 'openvino'
    package = 'openvino'
    install = 'pip install openvino'

    def convert(self, onnx_file, work_dir, int8=False):
        # The graph OpenVINO is given: RoIAlign's empty RoIs as mmcv has
        # them, and for INT8 the attention's products as convs, which NNCF
        # then quantizes and OpenVINO runs on integers (matmuls_as_convs).
        # It keeps its name, in a folder of its own, so that its IR (fp32,
        # computing what the graph computes) does too.
        graph = osp.join(work_dir, 'openvino_graph', osp.basename(onnx_file))
        os.makedirs(osp.dirname(graph), exist_ok=True)
        rois = roi_align_empty_as_zero(onnx_file, graph)
        source = graph if rois else onnx_file
        products = 0
        if int8 and self.deploy_cfg.quantization.get('matmuls_as_convs',
                                                     True):
            products = matmuls_as_convs(source, graph)
            source = graph
        if rois or products:
            print_log(f'OpenVINO: {rois} RoIAligns with empty RoIs as 0, '
                      f'{products} attention products as convs',
                      logger='current')
        return onnx_to_openvino(source, work_dir)

    def quantize(self, file, inputs, out_file):
        return quantize(file, inputs, out_file, self.deploy_cfg.quantization)

    def network(self, model, x):
        compiled, feed = model.wrapper.compiled, {'input': x.numpy()}
        return lambda: compiled(feed)
