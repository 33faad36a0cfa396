"""Deploying with mmdeploy (swiftformer_mm.export,
tools/deployment/deploy.py, tools/deployment/deploy_test.py): bad inputs
fail before anything is built, each with its own message, and the tools run
end to end. Numerical parity at every size, for every head family:
tests/test_deploy_families.py.
"""
import os.path as osp
import sys

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

import mmdeploy  # noqa: F401  installed by tools/setup_env.sh; fail if not
import swiftformer_mm  # noqa: F401
from conftest import randomize_, run
from swiftformer_mm.export import pipeline

# Whole exports, trainings or tool runs: out of the fast lane.
pytestmark = pytest.mark.slow

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEPLOY = osp.join(ROOT, 'configs/deploy')
SEG = osp.join(ROOT, 'configs/segmentation/semantic_fpn_swiftformer_xs_demo.py')
DET = osp.join(ROOT, 'configs/detection/mask_rcnn_swiftformer_xs_demo.py')
# Ops the exported models may contain: ONNX's core set, as every runtime
# has it (no ReduceL2, no custom domains).
STANDARD_OPS = {
    'Add', 'ArgMax', 'BatchNormalization', 'Cast', 'Clip', 'Concat',
    'Constant', 'ConstantOfShape', 'Conv', 'Div', 'Equal', 'Erf', 'Exp',
    'Expand', 'Flatten', 'Gather', 'GatherElements', 'Gemm', 'Greater',
    'Less', 'MatMul', 'Max', 'MaxPool', 'Min', 'Mul', 'NonMaxSuppression',
    'NonZero', 'Not', 'Range', 'ReduceMax', 'ReduceSum', 'Relu', 'Reshape',
    'Resize', 'RoiAlign', 'ScatterND', 'Shape', 'Sigmoid', 'Slice',
    'Softmax', 'Split', 'Sqrt', 'Squeeze', 'Sub', 'Tile', 'TopK',
    'Transpose', 'Unsqueeze', 'Where', 'Sign', 'Abs', 'Log', 'ReduceMin',
    'Floor', 'Ceil', 'Pow', 'And', 'Or', 'Neg', 'Identity', 'Pad',
    'GreaterOrEqual', 'LessOrEqual', 'If', 'Loop', 'Range', 'ReduceProd',
    'CumSum', 'Reciprocal', 'ConvTranspose', 'GridSample',
    'GlobalAveragePool', 'Mod', 'Einsum', 'LayerNormalization', 'Atan',
    'Cos', 'Sin', 'Ceil', 'ArgMin', 'ReduceMean', 'Expand', 'Trilu',
    'InstanceNormalization', 'GroupNormalization', 'Xor'}


def write_checkpoint(config, scope, path, seed=0):
    from mmengine.registry import init_default_scope
    cfg = Config.fromfile(config)
    cfg.model.backbone.init_cfg = None
    init_default_scope(scope)
    registry = __import__(f'{scope}.registry', fromlist=['MODELS'])
    torch.manual_seed(seed)  # the heads' default init
    model = registry.MODELS.build(cfg.model)
    if scope == 'mmseg':
        randomize_(model, seed)
    else:  # detector heads: default init (random logits would flood NMS)
        randomize_(model.backbone, seed)
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, str(path))
    return str(path)


def write_image(path, h=150, w=200, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = 128 + 90 * np.sin(xx[..., None] / 9 + yy[..., None] / 13 +
                            np.arange(3)) + rng.normal(0, 15, (h, w, 3))
    cv2.imwrite(str(path), np.clip(img, 0, 255).astype(np.uint8))
    return str(path)


def run_onnx(path, inputs):
    import onnxruntime as ort
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    return [torch.from_numpy(o) for o in session.run(
        None, {'input': inputs.numpy()})]


def op_types(path):
    import onnx
    return {n.op_type for n in onnx.load(path).graph.node}, \
        {init.name for init in onnx.load(path).graph.initializer}


# ------------------------------------------------------------ bad input
@pytest.fixture(scope='module')
def seg_checkpoint(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('bad')
    return write_checkpoint(SEG, 'mmseg', tmp / 'seg.pth'), \
        write_image(tmp / 'img.png'), tmp


def test_deploy_config_of_the_other_task(seg_checkpoint):
    ckpt, image, tmp = seg_checkpoint
    with pytest.raises(pipeline.DeployError,
                       match='deploy config is for mmseg.*mmdet model'):
        pipeline.export(osp.join(DEPLOY, 'segmentation_onnxruntime_dynamic.py'),
                        DET, ckpt, image, str(tmp / 'x'))


def test_missing_checkpoint(seg_checkpoint):
    _, image, tmp = seg_checkpoint
    with pytest.raises(FileNotFoundError, match='checkpoint not found'):
        pipeline.export(osp.join(DEPLOY, 'segmentation_onnxruntime_dynamic.py'),
                        SEG, str(tmp / 'nope.pth'), image, str(tmp / 'x'))


def test_unreadable_image(seg_checkpoint):
    from swiftformer_mm.inputs import ImageError
    ckpt, _, tmp = seg_checkpoint
    bad = tmp / 'broken.jpg'
    bad.write_bytes(b'not an image')
    with pytest.raises(ImageError):
        pipeline.export(osp.join(DEPLOY, 'segmentation_onnxruntime_dynamic.py'),
                        SEG, ckpt, str(bad), str(tmp / 'x'))


def test_backend_that_needs_a_gpu(seg_checkpoint):
    ckpt, image, tmp = seg_checkpoint
    cfg = Config.fromfile(osp.join(DEPLOY,
                                   'segmentation_onnxruntime_dynamic.py'))
    cfg.backend_config = dict(type='tensorrt')
    with pytest.raises(pipeline.DeployError,
                       match="'tensorrt' is not supported.*NVIDIA GPU"):
        pipeline.export(cfg, SEG, ckpt, image, str(tmp / 'x'))


def test_backend_not_installed(seg_checkpoint, monkeypatch):
    ckpt, image, tmp = seg_checkpoint
    monkeypatch.setitem(sys.modules, 'openvino', None)  # import fails
    with pytest.raises(pipeline.DeployError,
                       match="'openvino' is not installed.*pip install"):
        pipeline.export(osp.join(DEPLOY,
                                 'segmentation_openvino_static-512x512.py'),
                        SEG, ckpt, image, str(tmp / 'x'))


def test_static_shape_under_32_pixels(seg_checkpoint):
    ckpt, image, tmp = seg_checkpoint
    cfg = Config.fromfile(osp.join(
        DEPLOY, 'segmentation_onnxruntime_static-512x512.py'))
    cfg.onnx_config.input_shape = [24, 24]
    with pytest.raises(pipeline.DeployError, match='at least 32x32'):
        pipeline.export(cfg, SEG, ckpt, image, str(tmp / 'x'))


def test_tools_end_to_end(seg_checkpoint):
    """tools/deployment/deploy.py writes end2end.onnx and compares on the
    image; tools/deployment/deploy_test.py evaluates it on the config's
    test set."""
    from swiftformer_mm.demo_data import ade
    ckpt, image, tmp = seg_checkpoint
    data = tmp / 'ade'
    ade.generate(str(data), num_train=1, num_val=2)
    work = tmp / 'deployed'
    deploy_cfg = osp.join(DEPLOY, 'segmentation_onnxruntime_dynamic.py')
    out = run('tools/deployment/deploy.py', deploy_cfg, SEG, ckpt, image,
              '--work-dir', work, timeout=300)
    assert osp.isfile(work / 'end2end.onnx')
    assert 'pixels_equal' in out.stdout
    test = run('tools/deployment/deploy_test.py', deploy_cfg, SEG, '--model',
               work / 'end2end.onnx', '--work-dir', tmp / 'test',
               '--cfg-options', f'test_dataloader.dataset.data_root={data}',
               timeout=300)
    assert '"mIoU"' in test.stdout


def test_static_model_on_a_pipeline_of_another_size():
    deploy_cfg = Config.fromfile(osp.join(
        DEPLOY, 'segmentation_onnxruntime_static-512x512.py'))
    model_cfg = Config.fromfile(SEG)  # its test pipeline keeps the ratio
    with pytest.raises(pipeline.DeployError,
                       match='fixed 512x512.*dynamic-shape deploy config'):
        pipeline.check_static_shape(deploy_cfg, model_cfg)
    model_cfg.test_dataloader.dataset.pipeline.insert(
        1, dict(type='Resize', scale=(512, 512), keep_ratio=False))
    model_cfg.test_dataloader.dataset.pipeline = [
        step for step in model_cfg.test_dataloader.dataset.pipeline
        if step['type'] != 'Resize' or not step.get('keep_ratio', False)]
    pipeline.check_static_shape(deploy_cfg, model_cfg)


def test_each_mend_is_applied_only_where_it_is_still_needed(monkeypatch):
    """Each mend of mmdeploy names the upstream versions it is for and
    checks, on entering ``mmdeploy_patched``, whether the installed ones
    still need it: one they no longer need changes nothing, one they need
    is applied inside the block and removed after it."""
    import mmdeploy
    from mmdeploy.backend.onnxruntime import wrapper as ort_wrapper
    from mmdeploy.backend.openvino import backend_manager as ov_manager
    from mmdeploy.core.rewriters import function_rewriter

    from swiftformer_mm.export import mmdeploy_compat as compat
    watched = dict(
        dynamo=lambda: torch.onnx.export,
        cast_long=lambda: [getattr(m, '_cast_Long', None)
                           for m in compat._opset9_modules()],
        ort_ops=lambda: ort_wrapper.get_ops_path,
        openvino=lambda: ov_manager.OpenVINOManager.__dict__['build_wrapper'],
        fx_wraps=lambda: function_rewriter.FunctionRewriter.exit)
    assert set(watched) == set(compat.MENDS)
    needed = compat.needed_mends()
    # where each was found broken: torch 2.13 / OpenVINO 2026 / ORT 1.31
    if torch.__version__ >= '2.9':
        assert all(needed.values()), needed
    else:  # torch 2.1, mmdeploy's own: the exporter as it was
        assert not needed['dynamo'] and not needed['cast_long'], needed
    for key, value in watched.items():
        before = value()
        if needed[key]:
            with compat.mmdeploy_patched():
                assert value() != before, key
            assert value() == before, key
        with monkeypatch.context() as m:
            m.setitem(compat.MENDS, key,
                      compat.MENDS[key]._replace(needed=lambda: False))
            with compat.mmdeploy_patched():
                assert value() == before, f'{key} applied where not needed'
    monkeypatch.setattr(mmdeploy, '__version__', '1.4.0')
    with pytest.warns(UserWarning, match='mends mmdeploy 1.3.1; this is '
                      'mmdeploy 1.4.0'):
        with compat.mmdeploy_patched():
            pass


def test_nested_mends_stay_until_the_outermost_block_ends():
    """``mmdeploy_patched`` nests: the steps of a deployment (export, load,
    compare) each enter it inside the tool's one block; leaving an inner
    block must not switch the rewrites off under the outer one."""
    from swiftformer_mm.export import rewriters
    from swiftformer_mm.export.mmdeploy_compat import mmdeploy_patched
    export = torch.onnx.export
    with mmdeploy_patched():
        patched = torch.onnx.export
        with mmdeploy_patched():
            assert rewriters.Deploying.active
        assert rewriters.Deploying.active
        assert torch.onnx.export is patched
    assert not rewriters.Deploying.active
    assert torch.onnx.export is export
