"""Whole detectors and segmentors deployed with mmdeploy to ONNX Runtime and
OpenVINO (swiftformer_mm.export, tools/deploy.py, tools/deploy_test.py).

Parity: the exported graph, run by the backend, against PyTorch running the
same model (random, non-trivial weights) with the same mmdeploy rewrites, on
the same preprocessed input; the backbone inside is the fused deploy form and
its L2 normalisations use only widely supported ops. Bad inputs fail before
anything is built, each with its own message.
"""
import copy
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

import mmdeploy  # noqa: F401  installed by tools/setup_env.sh; fail if not
import swiftformer_mm  # noqa: F401
from conftest import randomize_, relative_error
from swiftformer_mm.export import pipeline
from swiftformer_mm.export.mmdeploy_compat import mmdeploy_patched

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
    'CumSum', 'Reciprocal', 'ConvTranspose'}


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


def reference_outputs(deploy_cfg, model_cfg, checkpoint, image):
    """PyTorch, with mmdeploy's rewrites, on the input torch2onnx uses."""
    deploy_cfg, model_cfg = pipeline.load_configs(deploy_cfg, model_cfg)
    with mmdeploy_patched():
        from mmdeploy.apis.utils import build_task_processor
        from mmdeploy.core import RewriterContext
        from mmdeploy.utils import get_input_shape
        processor = build_task_processor(model_cfg, deploy_cfg, 'cpu')
        model = processor.build_pytorch_model(checkpoint)
        assert model.backbone.deploy  # mmdeploy fused the backbone
        data, inputs = processor.create_input(
            image, get_input_shape(deploy_cfg),
            data_preprocessor=model.data_preprocessor)
        inputs = inputs[0] if isinstance(inputs, list) else inputs
        with RewriterContext(deploy_cfg, backend='onnxruntime'), \
                torch.no_grad():
            out = model(inputs, data['data_samples'], mode='predict')
    out = out if isinstance(out, (list, tuple)) else [out]
    return inputs, [o.detach() for o in out]


def run_onnx(path, inputs):
    import onnxruntime as ort
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    return [torch.from_numpy(o) for o in session.run(
        None, {'input': inputs.numpy()})]


def op_types(path):
    import onnx
    return {n.op_type for n in onnx.load(path).graph.node}, \
        {init.name for init in onnx.load(path).graph.initializer}


@pytest.fixture(scope='module')
def seg_export(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('seg_deploy')
    ckpt = write_checkpoint(SEG, 'mmseg', tmp / 'seg.pth')
    image = write_image(tmp / 'img.png')
    deploy_cfg = Config.fromfile(
        osp.join(DEPLOY, 'segmentation_onnxruntime_dynamic.py'))
    deploy_cfg.codebase_config.with_argmax = False  # compare the logits
    files = pipeline.export(deploy_cfg, SEG, ckpt, image, str(tmp / 'ort'))
    return tmp, deploy_cfg, ckpt, image, files


def test_semantic_fpn_onnxruntime_parity(seg_export):
    tmp, deploy_cfg, ckpt, image, files = seg_export
    inputs, expected = reference_outputs(deploy_cfg, SEG, ckpt, image)
    got = run_onnx(files[0], inputs)
    assert got[0].shape == expected[0].shape
    err = relative_error(got[0], expected[0])
    print(f'Semantic FPN XS, ONNX Runtime vs PyTorch logits: {err:.2e}')
    assert err < 1e-4
    ops, initializers = op_types(files[0])
    assert ops <= STANDARD_OPS, ops - STANDARD_OPS
    assert 'ReduceL2' not in ops
    # the fused backbone: q/k stacked into one matmul, no layer scales
    assert not any('layer_scale' in name for name in initializers)


def test_semantic_fpn_openvino_parity(seg_export):
    tmp, deploy_cfg, ckpt, image, _ = seg_export
    ov_cfg = copy.deepcopy(deploy_cfg)
    ov_cfg.backend_config = dict(type='openvino')
    files = pipeline.export(ov_cfg, SEG, ckpt, image, str(tmp / 'ov'))
    assert files[0].endswith('.xml')
    inputs, expected = reference_outputs(deploy_cfg, SEG, ckpt, image)
    from swiftformer_mm.export.mmdeploy_compat import OpenVINORuntimeWrapper
    got = OpenVINORuntimeWrapper(files[0], output_names=['output'])(
        dict(input=inputs))['output']
    err = relative_error(got, expected[0])
    print(f'Semantic FPN XS, OpenVINO vs PyTorch logits: {err:.2e}')
    assert err < 2e-3  # OpenVINO's CPU kernels: measured 7.6e-4


def test_mask_rcnn_onnxruntime(tmp_path):
    """The whole Mask R-CNN exports, with standard ops only and the fused
    backbone, and ONNX Runtime runs it; its backbone + FPN, exported through
    the same mmdeploy exporter, computes PyTorch's features.

    (Detections are compared end to end on a trained model instead: on the
    demo set the deployed model's AP is within 0.2 of PyTorch's, see
    docs/deployment.md. With random weights every proposal scores about the
    same, so the top-k and NMS choices flip on 1e-7 differences and
    detection-by-detection comparison says nothing.)"""
    from mmdeploy.apis.onnx import export as onnx_export
    ckpt = write_checkpoint(DET, 'mmdet', tmp_path / 'det.pth')
    image = write_image(tmp_path / 'img.png', 120, 160, seed=1)
    deploy_cfg = Config.fromfile(
        osp.join(DEPLOY, 'instance-seg_onnxruntime_dynamic.py'))
    files = pipeline.export(deploy_cfg, DET, ckpt, image,
                            str(tmp_path / 'ort'))
    ops, initializers = op_types(files[0])
    assert ops <= STANDARD_OPS, ops - STANDARD_OPS
    assert {'RoiAlign', 'NonMaxSuppression'} <= ops
    assert not any('layer_scale' in name for name in initializers)
    inputs, _ = reference_outputs(deploy_cfg, DET, ckpt, image)
    dets, labels, masks = run_onnx(files[0], inputs)
    assert dets.shape[:2] == labels.shape == masks.shape[:2]
    assert dets.shape[-1] == 5 and masks.shape[-2:] == (28, 28)

    deploy_cfg, model_cfg = pipeline.load_configs(deploy_cfg, DET)
    with mmdeploy_patched():
        from mmdeploy.apis.utils import build_task_processor
        model = build_task_processor(model_cfg, deploy_cfg, 'cpu'
                                     ).build_pytorch_model(ckpt)
        features = torch.nn.Sequential(model.backbone, model.neck).eval()
        with torch.no_grad():
            expected = features(inputs)
        names = [f'p{i}' for i in range(len(expected))]
        onnx_export(features, inputs, str(tmp_path / 'features'),
                    backend='onnxruntime', input_names=['input'],
                    output_names=names,
                    context_info=dict(deploy_cfg=deploy_cfg),
                    dynamic_axes={'input': {2: 'h', 3: 'w'}})
    got = run_onnx(str(tmp_path / 'features.onnx'), inputs)
    for level, (a, b) in enumerate(zip(got, expected, strict=True)):
        err = relative_error(a, b)
        print(f'Mask R-CNN XS backbone+FPN level {level}, ONNX Runtime vs '
              f'PyTorch: {err:.2e}')
        assert err < 1e-4


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
    """tools/deploy.py writes end2end.onnx and compares on the image;
    tools/deploy_test.py evaluates it on the config's test set."""
    from swiftformer_mm.demo_data import ade
    ckpt, image, tmp = seg_checkpoint
    data = tmp / 'ade'
    ade.generate(str(data), num_train=1, num_val=2)
    work = tmp / 'deployed'
    deploy_cfg = osp.join(DEPLOY, 'segmentation_onnxruntime_dynamic.py')
    out = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools/deploy.py'), deploy_cfg, SEG,
         ckpt, image, '--work-dir', str(work)], capture_output=True,
        text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert osp.isfile(work / 'end2end.onnx')
    assert 'pixels_equal' in out.stdout
    test = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools/deploy_test.py'), deploy_cfg,
         SEG, '--model', str(work / 'end2end.onnx'), '--work-dir',
         str(tmp / 'test'), '--cfg-options',
         f'test_dataloader.dataset.data_root={data}'],
        capture_output=True, text=True, timeout=300)
    assert test.returncode == 0, test.stderr[-3000:]
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
