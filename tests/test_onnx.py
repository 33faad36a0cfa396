"""ONNX export of the backbone (training and deploy form): onnxruntime's
outputs equal PyTorch's on the same weights, with dynamic input sizes."""
import copy
import importlib.util
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
