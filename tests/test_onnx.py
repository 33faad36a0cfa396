"""ONNX export of the backbone (training and deploy form): onnxruntime's
outputs equal PyTorch's on the same weights, with dynamic input sizes."""
import copy
import importlib.util
import logging
from pathlib import Path

import pytest
import torch

from conftest import randomize_
from swiftformer_mm.models import SwiftFormer, switch_to_deploy

pytest.importorskip('onnx')
pytest.importorskip('onnxruntime')

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location(
    'export_onnx', ROOT / 'tools/deployment/export_onnx.py')
export_onnx = importlib.util.module_from_spec(spec)
spec.loader.exec_module(export_onnx)

TOLERANCE = 1e-4


@pytest.mark.parametrize('formula', ['current', 'legacy'])
def test_onnx_matches_pytorch(formula, tmp_path):
    import onnx
    model = randomize_(SwiftFormer('xs', attn_formula=formula), seed=8).eval()
    fused = switch_to_deploy(copy.deepcopy(model))
    for name, m in (('train', model), ('deploy', fused)):
        path = str(tmp_path / f'{name}.onnx')
        export_onnx.export(m, path, (128, 160), dynamic=True)
        onnx.checker.check_model(path)
        for shape in [(1, 3, 128, 160), (2, 3, 96, 224)]:
            x = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
            err = export_onnx.check(m, path, x)
            assert err < TOLERANCE, (name, shape, err)
        # and the deploy graph against the training form (independent path)
        if name == 'deploy':
            x = torch.randn(1, 3, 128, 160)
            assert export_onnx.check(model, path, x) < TOLERANCE
    def count_bn(name):
        graph = onnx.load(str(tmp_path / f'{name}.onnx')).graph
        return sum(n.op_type == 'BatchNormalization' for n in graph.node)
    # Only the four output norms are left in the deploy graph.
    assert count_bn('deploy') == 4 < count_bn('train')


def test_int8_graph_runs_each_gelu_as_one_op(tmp_path):
    """ONNX Runtime INT8 (backends/onnxruntime.py): every GELU of the
    backbone is fused into one op before quantization, which quantizes the
    same tensors as without the fusion and computes what it computes."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    from swiftformer_mm.export.backends.onnxruntime import fuse_gelu, quantize
    model = switch_to_deploy(randomize_(SwiftFormer('xs'), seed=9)).eval()
    gelus = sum(isinstance(m, torch.nn.GELU) for m in model.modules())
    path = str(tmp_path / 'fp32.onnx')
    export_onnx.export(model, path, (96, 128), dynamic=True)
    assert fuse_gelu(path, str(tmp_path / 'fused.onnx')) == gelus > 0
    gen = torch.Generator().manual_seed(0)
    calib = [torch.randn(1, 3, 96, 128, generator=gen) for _ in range(4)]
    x = torch.randn(1, 3, 80, 144, generator=gen).numpy()  # another size
    outputs, graphs = {}, {}
    for fused in (True, False):
        out = str(tmp_path / f'int8_{fused}.onnx')
        quantize(path, calib, out, dict(op_types=['Conv', 'MatMul', 'Gemm'],
                                        fuse_gelu=fused))
        graphs[fused] = [n.op_type for n in onnx.load(out).graph.node]
        session = ort.InferenceSession(out, providers=['CPUExecutionProvider'])
        outputs[fused] = session.run(None, {'input': x})
    assert graphs[True].count('Gelu') == gelus
    assert 'Erf' not in graphs[True] and 'Erf' in graphs[False]
    assert graphs[True].count('QuantizeLinear') == \
        graphs[False].count('QuantizeLinear')
    # the two differ where a hair of fp32 rounding moves a value across a
    # quantization step; the fused graph is as close to fp32 as the other
    # (how far apart the two are is no property: on onnxruntime 1.18 they
    # differ from each other about as much as each differs from fp32)
    fp32 = ort.InferenceSession(path, providers=['CPUExecutionProvider']
                                ).run(None, {'input': x})
    for level, ref in enumerate(fp32):
        err = {fused: float(np.abs(out[level] - ref).mean())
               for fused, out in outputs.items()}
        assert err[True] <= 1.1 * err[False], (level, err)


def test_int8_graph_runs_attention_products_on_integers(tmp_path):
    """ONNX Runtime INT8: the attention's weight-on-the-left products,
    rewritten as 1-D convs before quantization (``matmuls_as_convs``),
    compute what the MatMuls compute in fp32 and run as QLinearConv, with
    no product left in fp32 on dequantized tensors."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    from swiftformer_mm.export.backends.onnxruntime import (matmuls_as_convs,
                                                            quantize)
    model = switch_to_deploy(randomize_(SwiftFormer('xs'), seed=10)).eval()
    # per attention: qk, w_g, proj and final
    attentions = sum(type(m).__name__ == 'DeployAttention'
                     for m in model.modules())
    path, convs = str(tmp_path / 'fp32.onnx'), str(tmp_path / 'convs.onnx')
    export_onnx.export(model, path, (96, 128), dynamic=True)
    assert matmuls_as_convs(path, convs) == 4 * attentions > 0
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 80, 144, generator=gen).numpy()  # another size

    def run(file, opt=ort.GraphOptimizationLevel.ORT_ENABLE_ALL):
        options = ort.SessionOptions()
        options.graph_optimization_level = opt
        options.optimized_model_filepath = file.replace('.onnx', '.opt.onnx')
        session = ort.InferenceSession(file, options,
                                       providers=['CPUExecutionProvider'])
        return session.run(None, {'input': x}), options.optimized_model_filepath

    for ref, out in zip(run(path)[0], run(convs)[0]):
        assert np.abs(ref - out).max() < 1e-4 * np.abs(ref).max()
    calib = [torch.randn(1, 3, 96, 128, generator=gen) for _ in range(4)]
    ops = {}
    for rewrite in (True, False):
        out = str(tmp_path / f'int8_{rewrite}.onnx')
        quantize(path, calib, out, dict(op_types=['Conv', 'MatMul', 'Gemm'],
                                        matmuls_as_convs=rewrite))
        # the graph as ONNX Runtime runs it, after its Q/DQ fusions
        opt = run(out, ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED)[1]
        ops[rewrite] = [n.op_type for n in onnx.load(opt).graph.node]
    assert ops[False].count('MatMul') == 4 * attentions
    assert 'MatMul' not in ops[True]
    assert ops[True].count('QLinearConv') == \
        ops[False].count('QLinearConv') + 4 * attentions


def test_openvino_roi_align_gives_empty_rois_zero_as_mmcv(tmp_path):
    """A RoI of zero size (mmdeploy pads each level's RoIs with them):
    OpenVINO's ROIAlign returns NaN, which NNCF's calibration read as the
    mask head's input range (INT8 mask AP 0); after
    ``roi_align_empty_as_zero`` OpenVINO returns 0 there, as mmcv and ONNX
    Runtime do, and the same values elsewhere."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    openvino = pytest.importorskip('openvino')
    from onnx import TensorProto, helper
    from mmcv.ops import roi_align
    from swiftformer_mm.export.backends.openvino import \
        roi_align_empty_as_zero
    node = helper.make_node(
        'RoiAlign', ['x', 'rois', 'index'], ['y'], name='roi', mode='avg',
        output_height=7, output_width=7, sampling_ratio=0, spatial_scale=0.25,
        coordinate_transformation_mode='half_pixel')
    graph = helper.make_graph(
        [node], 'g',
        [helper.make_tensor_value_info('x', TensorProto.FLOAT, [1, 8, 16, 16]),
         helper.make_tensor_value_info('rois', TensorProto.FLOAT, [3, 4]),
         helper.make_tensor_value_info('index', TensorProto.INT64, [3])],
        [helper.make_tensor_value_info('y', TensorProto.FLOAT, None)])
    path, fixed = str(tmp_path / 'roi.onnx'), str(tmp_path / 'fixed.onnx')
    onnx.save(helper.make_model(graph, ir_version=9, opset_imports=[
        helper.make_opsetid('', 16)]), path)
    assert roi_align_empty_as_zero(path, fixed) == 1
    x = torch.randn(1, 8, 16, 16, generator=torch.Generator().manual_seed(0))
    rois = torch.tensor([[0., 0., 0., 0.], [4., 6., 40., 30.],
                         [10., 10., 10., 10.]])  # two of zero size
    feed = {'x': x.numpy(), 'rois': rois.numpy(),
            'index': np.zeros(3, np.int64)}
    mmcv_out = roi_align(x, torch.cat([torch.zeros(3, 1), rois], 1), (7, 7),
                         0.25, 0, 'avg', True).numpy()
    core = openvino.Core()
    before = core.compile_model(path, 'CPU')(feed)[0]
    after = core.compile_model(fixed, 'CPU')(feed)[0]
    onnxruntime = ort.InferenceSession(
        fixed, providers=['CPUExecutionProvider']).run(None, feed)[0]
    assert np.isnan(before[[0, 2]]).all()  # what OpenVINO does unmended
    assert not np.isnan(after).any() and (after[[0, 2]] == 0).all()
    np.testing.assert_allclose(after, mmcv_out, atol=1e-5)
    np.testing.assert_allclose(onnxruntime, mmcv_out, atol=1e-5)


@pytest.mark.parametrize('key, value, named', [
    ('weight_type', 'int4', "'int8'"), ('quant_format', 'QDq', "'QDQ'")])
def test_an_unknown_int8_choice_is_refused_before_quantizing(tmp_path, key,
                                                             value, named):
    from swiftformer_mm.export.backends.onnxruntime import quantize
    from swiftformer_mm.export.errors import DeployError
    with pytest.raises(DeployError, match=rf"{key}='{value}'.*{named}"):
        quantize(str(tmp_path / 'missing.onnx'), [],
                 str(tmp_path / 'out.onnx'), {key: value})


def test_ignored_patterns_that_match_no_node_are_reported(monkeypatch):
    """``ignored_patterns`` must match whole node names: patterns that keep
    nothing in fp32 are named in a warning, not silently dropped; one
    pattern of a config shared by several heads matching nothing is not."""
    from swiftformer_mm.export import quantize
    said = []
    monkeypatch.setattr(quantize, 'print_log',
                        lambda msg, **kw: said.append((msg, kw['level'])))
    names = ['/backbone/network.0/attn/Conv', '/neck/Conv']
    assert quantize.matching(names, ['.*/attn/.*', '.*rpn_cls.*']) == \
        names[:1]
    assert said == []
    assert quantize.matching(names, ['attn']) == []  # a substring, not whole
    (msg, level), = said
    assert "['attn'] match no node" in msg and "'/neck/Conv'" in msg
    assert level == logging.WARNING


def test_int8_qoperator_format_writes_the_kernels_qdq_is_fused_into(
        tmp_path):
    """``quant_format='QOperator'`` (a recipe the quantized-backbone
    benchmark times) writes ONNX Runtime's QLinearConv for every convolution
    where the QDQ file has QuantizeLinear / DequantizeLinear pairs around a
    Conv, and its outputs, on an input of another size, are as close to
    fp32 as the QDQ file's (closer, measured: mean error 0.82x-0.86x of
    QDQ's at each level, seeds 11-13, AMD EPYC Zen 5)."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    from swiftformer_mm.export.backends.onnxruntime import quantize
    model = switch_to_deploy(randomize_(SwiftFormer('xs'), seed=11)).eval()
    path = str(tmp_path / 'fp32.onnx')
    export_onnx.export(model, path, (96, 128), dynamic=True)
    gen = torch.Generator().manual_seed(0)
    calib = [torch.randn(1, 3, 96, 128, generator=gen) for _ in range(4)]
    x = torch.randn(1, 3, 80, 144, generator=gen).numpy()
    fp32 = ort.InferenceSession(path, providers=['CPUExecutionProvider']
                                ).run(None, {'input': x})
    ops, errors = {}, {}
    for fmt in ('QDQ', 'QOperator'):
        out = str(tmp_path / f'{fmt}.onnx')
        quantize(path, calib, out, dict(op_types=['Conv', 'MatMul', 'Gemm'],
                                        quant_format=fmt))
        ops[fmt] = [n.op_type for n in onnx.load(out).graph.node]
        session = ort.InferenceSession(out, providers=['CPUExecutionProvider'])
        errors[fmt] = [float(np.abs(o - r).mean()) for o, r in zip(
            session.run(None, {'input': x}), fp32, strict=True)]
    convs = ops['QDQ'].count('Conv')
    assert convs > 0 and 'QLinearConv' not in ops['QDQ']
    assert ops['QOperator'].count('QLinearConv') == convs
    assert 'Conv' not in ops['QOperator']
    for qdq, qop in zip(errors['QDQ'], errors['QOperator']):
        assert qop <= 1.1 * qdq, errors
