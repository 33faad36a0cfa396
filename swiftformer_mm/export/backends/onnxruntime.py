# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""ONNX Runtime: the standard-op ONNX graph (:mod:`..onnx`), INT8 by ONNX
Runtime's static quantization, run by mmdeploy's backend models."""
from typing import List, Optional, Sequence, Tuple

import torch
from mmengine.logging import print_log

from ..errors import DeployError
from ..onnx import export_task
from ..quantize import matching, matmuls_as_convs
from ..task import deployed_preprocessor, deployed_preprocessor_cfg
from .base import DEPLOY_BACKENDS, DeployBackend


def fuse_gelu(onnx_file: str, out_file: str) -> int:
    """Fuse each GELU of the graph (``Div``, ``Erf``, ``Add``, ``Mul``,
    ``Mul``, as torch exports it) into ONNX Runtime's one ``Gelu`` op, with
    ONNX Runtime's own pass; returns how many were fused.

    ONNX Runtime does this fusion itself when it loads an fp32 graph, but
    not once the quantizer has put ``QuantizeLinear`` / ``DequantizeLinear``
    around the pieces: an INT8 graph then runs GELU as five elementwise ops
    in fp32. Fused before quantization, the same tensors are quantized and
    GELU is one op (``benchmark.py quantized-backbone`` times both;
    docs/benchmarks.md).
    """
    import onnx
    from onnxruntime.transformers.fusion_gelu import FusionGelu
    from onnxruntime.transformers.onnx_model import OnnxModel
    model = OnnxModel(onnx.load(onnx_file))
    FusionGelu(model).apply()
    model.prune_graph()
    onnx.save(model.model, out_file)
    return sum(n.op_type == 'Gelu' for n in model.model.graph.node)


def quantize(onnx_file: str, inputs: List[torch.Tensor], out_file: str,
             cfg: dict) -> str:
    """ONNX Runtime's static QDQ quantization (per-channel int8 weights,
    uint8 activations) of an ONNX model, calibrated on ``inputs``.

    ``cfg`` (a deploy config's ``quantization``): ``op_types`` to quantize
    (default: every op ONNX Runtime can), ``per_channel``,
    ``ignored_patterns`` (nodes left in fp32, by name) and ``fuse_gelu``
    (default True, :func:`fuse_gelu`), ``matmuls_as_convs`` (default
    True, :func:`matmuls_as_convs`), ``reduce_range`` (default False: 7-bit
    weights, which ONNX Runtime's AVX2 kernels cannot saturate),
    ``weight_type`` (``'int8'``, the default, or ``'uint8'``) and
    ``quant_format`` (``'QDQ'``, the default: QuantizeLinear /
    DequantizeLinear pairs around fp32 ops, which ONNX Runtime fuses into
    its quantized kernels when it loads the file; or ``'QOperator'``: the
    quantized ops, e.g. QLinearConv, written into the file).
    """
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat,
                                          QuantType, quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process
    weight_types = {'int8': QuantType.QInt8, 'uint8': QuantType.QUInt8}
    if cfg.get('weight_type', 'int8') not in weight_types:
        raise DeployError(f"quantization.weight_type={cfg['weight_type']!r}: "
                          f"give one of {sorted(weight_types)}")
    formats = {'QDQ': QuantFormat.QDQ, 'QOperator': QuantFormat.QOperator}
    quant_format = cfg.get('quant_format', 'QDQ')
    if quant_format not in formats:
        raise DeployError(f'quantization.quant_format={quant_format!r}: '
                          f'give one of {sorted(formats)}')
    pre = out_file.replace('.onnx', '.pre.onnx')
    quant_pre_process(onnx_file, pre, skip_symbolic_shape=True)
    gelus = fuse_gelu(pre, pre) if cfg.get('fuse_gelu', True) else 0
    products = matmuls_as_convs(pre, pre) \
        if cfg.get('matmuls_as_convs', True) else 0
    print_log(f'ONNX Runtime INT8: {gelus} GELUs fused, {products} attention '
              'products as convs, before quantization', logger='current')
    graph = onnx.load(pre).graph
    name = graph.input[0].name
    ignored = matching([n.name for n in graph.node],
                       cfg.get('ignored_patterns', []))

    class Reader(CalibrationDataReader):

        def __init__(self):
            self.queue = iter(inputs)

        def get_next(self):
            x = next(self.queue, None)
            return None if x is None else {name: x.numpy()}

    quantize_static(
        pre, out_file, Reader(), quant_format=formats[quant_format],
        per_channel=cfg.get('per_channel', True),
        reduce_range=cfg.get('reduce_range', False),
        activation_type=QuantType.QUInt8,
        weight_type=weight_types[cfg.get('weight_type', 'int8')],
        nodes_to_exclude=ignored or None,
        op_types_to_quantize=cfg.get('op_types'))
    used_opsets_only(out_file)
    return out_file


def used_opsets_only(onnx_file: str) -> None:
    """Drop the opset imports of domains no node of the model uses.

    ONNX Runtime's quantizer stamps its output with every domain it knows
    (``ai.onnx.ml`` 5, ``ai.onnx.training``, ...); ONNX Runtime 1.15, the
    one inside mmdeploy's SDK (mmdeploy-runtime 1.3.1), refuses a model
    stamped with ``ai.onnx.ml`` 5, and the SDK then crashes (SIGSEGV)
    instead of saying so."""
    import onnx
    model = onnx.load(onnx_file)
    used = {node.domain for node in model.graph.node} | {''}
    kept = [o for o in model.opset_import if o.domain in used]
    if len(kept) < len(model.opset_import):
        del model.opset_import[:]
        model.opset_import.extend(kept)
        onnx.save(model, onnx_file)


class MMDeployBackend(DeployBackend):
    """A runtime that mmdeploy runs: the ONNX graph of :func:`export_task`,
    converted by :meth:`convert`, loaded as mmdeploy's backend model of the
    task (``End2EndModel``)."""

    def host_preprocessor(self):
        return deployed_preprocessor(self.model_cfg)

    def convert(self, onnx_file: str, work_dir: str,
                int8: bool = False) -> str:
        """The runtime's file of the ONNX graph (``int8``: the graph its
        :meth:`quantize` will be given)."""
        return onnx_file

    def quantize(self, file: str, inputs: List[torch.Tensor],
                 out_file: str) -> str:
        raise NotImplementedError

    def export(self, checkpoint: str, image: str, work_dir: str,
               sizes: Sequence[Tuple[int, int]] = (),
               calibration: Optional[List[torch.Tensor]] = None
               ) -> List[str]:
        # dynamic graphs run at every size: ``sizes`` need nothing more
        onnx_file = export_task(self.deploy_cfg, self.model_cfg, checkpoint,
                                image, work_dir, self.device)
        file = self.convert(onnx_file, work_dir, calibration is not None)
        if calibration is None:
            return [file]
        stem, ext = file.rsplit('.', 1)
        return [self.quantize(file, calibration, f'{stem}-int8.{ext}')]

    def load(self, files: Sequence[str]) -> torch.nn.Module:
        from mmdeploy.apis.utils import build_task_processor

        from ..mmdeploy_compat import mmdeploy_patched
        with mmdeploy_patched():  # mmdeploy builds the runtime's wrapper
            processor = build_task_processor(self.model_cfg, self.deploy_cfg,
                                             self.device)
            return processor.build_backend_model(
                list(files), lambda cfg: deployed_preprocessor_cfg(
                    self.model_cfg, cfg))


@DEPLOY_BACKENDS.register_module('onnxruntime')
class ONNXRuntimeBackend(MMDeployBackend):
    name = 'onnxruntime'
    package = 'onnxruntime'
    install = 'pip install onnxruntime'

    def quantize(self, file, inputs, out_file):
        return quantize(file, inputs, out_file, self.deploy_cfg.quantization)

    def network(self, model, x):
        session, feed = model.wrapper.sess, {'input': x.numpy()}
        return lambda: session.run(None, feed)
