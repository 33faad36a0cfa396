# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Export, compare and evaluate a deployed detector or segmentor with
mmdeploy's own APIs (``torch2onnx``, ``build_task_processor``, its backend
models and test runner); ``tools/deployment/deploy.py`` and
``tools/deployment/deploy_test.py`` are the command lines.

Every input is checked first (:func:`check_inputs`): the tasks of the two
configs, the checkpoint, the image, the backend, a static input shape.
"""
import copy
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.utils import ProgressBar

from ..inputs import load_image
from .compare import compare, prediction_arrays
from .errors import DeployError
from . import quantize
from .mmdeploy_compat import mmdeploy_patched, onnx_to_openvino

#: Backends this project deploys to, and how to get each.
BACKENDS = {
    'onnxruntime': ('onnxruntime', 'pip install onnxruntime'),
    'openvino': ('openvino', 'pip install openvino'),
    'executorch': ('executorch.runtime', 'bash tools/setup_env.sh installs '
                   'it (pip install executorch==1.5.1 torchao==0.18.0 '
                   '--no-deps, plus flatbuffers, ruamel.yaml)'),
}
MIN_SIDE = 32  # SwiftFormer's total stride


def load_configs(deploy_cfg, model_cfg):
    """Both configs; for segmentation, the deploy config also records the
    decode head's ``align_corners`` and ``threshold``, which the host-side
    post-processing needs (:func:`~.seg_postprocess.logits_to_labels`)."""
    deploy_cfg = copy.deepcopy(deploy_cfg) if isinstance(
        deploy_cfg, Config) else Config.fromfile(deploy_cfg)
    model_cfg = copy.deepcopy(model_cfg) if isinstance(
        model_cfg, Config) else Config.fromfile(model_cfg)
    if model_cfg.get('data_preprocessor') is not None:
        # mmpretrain configs give it at the top; mmengine's Runner moves it
        # into the model, mmdeploy's task processors look in the model
        model_cfg.model.setdefault('data_preprocessor',
                                   model_cfg.data_preprocessor)
    codebase = deploy_cfg.get('codebase_config', {})
    head = model_cfg.get('model', {}).get('decode_head')
    if codebase.get('type') == 'mmseg' and isinstance(head, dict):
        codebase['decode_align_corners'] = head.get('align_corners', False)
        codebase['decode_threshold'] = head.get('threshold') or 0.3
    return deploy_cfg, model_cfg


def check_inputs(deploy_cfg: Config, model_cfg: Config,
                 checkpoint: Optional[str] = None,
                 image: Optional[str] = None) -> None:
    """Raise :class:`DeployError` (or ``FileNotFoundError``) before any
    model is built, naming the problem and the fix."""
    codebase = deploy_cfg.get('codebase_config', {}).get('type')
    scope = model_cfg.get('default_scope')
    if codebase != scope:
        raise DeployError(
            f'the deploy config is for {codebase} '
            f"({deploy_cfg.codebase_config.get('task')}) but the model "
            f'config is an {scope} model; use a deploy config of configs/'
            f'deploy/ for {scope} ('
            + {'mmdet': 'instance-seg_* or detection_*', 'mmseg':
               'segmentation_*', 'mmpretrain': 'classification_*'}.get(
                   scope, 'none there') + ').')
    codebase_cfg = deploy_cfg.get('codebase_config', {})
    if not codebase_cfg.get('resize_to_input', True) and codebase_cfg.get(
            'with_argmax', True):
        raise DeployError(
            'codebase_config has resize_to_input=False with with_argmax=True:'
            ' the class map would be taken at the decode head\'s 1/4 '
            'resolution. Set with_argmax=False (the logits are resized to '
            'the image, then the argmax is taken, as mmseg does).')
    backend = deploy_cfg.get('backend_config', {}).get('type')
    if backend not in BACKENDS:
        gpu = ' and an NVIDIA GPU' if backend in ('tensorrt', 'pplnn') else ''
        raise DeployError(
            f'backend {backend!r} is not supported here; it needs its own '
            f'runtime{gpu}, which this installation does not have. Use a '
            f'deploy config for one of {sorted(BACKENDS)} (configs/deploy/).')
    module, install = BACKENDS[backend]
    try:
        __import__(module)
    except ImportError as e:
        raise DeployError(f'backend {backend!r} is not installed '
                          f'({e}); {install}') from e
    shape = deploy_cfg.get('onnx_config', {}).get('input_shape')
    if shape is not None and min(shape) < MIN_SIDE:
        raise DeployError(
            f'onnx_config.input_shape={list(shape)} (W, H): SwiftFormer needs'
            f' at least {MIN_SIDE}x{MIN_SIDE} pixels (its total stride); use '
            'a larger static shape or a dynamic-shape deploy config.')
    if checkpoint is not None and not osp.isfile(checkpoint):
        raise FileNotFoundError(
            f'checkpoint not found: {checkpoint!r} (resolved from '
            f'{osp.abspath(".")}); give the .pth written by tools/train.py')
    if image is not None:
        load_image(image)  # ImageError names the file and what is wrong


def check_static_shape(deploy_cfg: Config, model_cfg: Config) -> None:
    """A static-shape model runs only on inputs of its shape: the test
    pipeline must resize to exactly that size."""
    shape = deploy_cfg.get('onnx_config', {}).get('input_shape')
    if shape is None:
        return
    steps = model_cfg.test_dataloader.dataset.get('pipeline', [])
    resizes = [s for s in steps if s.get('type') == 'Resize']
    fixed = [s for s in resizes if not s.get('keep_ratio', False)
             and tuple(s.get('scale', ())) == tuple(shape)]
    if not fixed:
        raise DeployError(
            f'the deployed model takes a fixed {shape[0]}x{shape[1]} (WxH) '
            "input, but the model config's test pipeline "
            + (f'resizes with {resizes}' if resizes else 'does not resize')
            + '; evaluate with a dynamic-shape deploy config (configs/deploy/'
            f"*_dynamic.py), or add dict(type='Resize', scale={tuple(shape)},"
            ' keep_ratio=False) to the test pipeline.')


def _export_cfg(deploy_cfg: Config) -> Config:
    """The config the ONNX export runs with: OpenVINO converts the ONNX
    Runtime export (standard ops) instead of mmdeploy's OpenVINO-specific
    rewrites, whose converter no longer exists."""
    if deploy_cfg.backend_config.type != 'openvino':
        return deploy_cfg
    cfg = copy.deepcopy(deploy_cfg)
    cfg.backend_config = dict(type='onnxruntime')
    return cfg


def _processor_cfg(deploy_cfg: Config) -> Config:
    """The deploy config mmdeploy's task processor gets. For ExecuTorch,
    which mmdeploy does not know, it only reads images and builds the
    PyTorch model: as for a dynamic-shape ONNX Runtime model."""
    if deploy_cfg.backend_config.type != 'executorch':
        return deploy_cfg
    cfg = copy.deepcopy(deploy_cfg)
    cfg.backend_config = dict(type='onnxruntime')
    cfg.onnx_config = dict(type='onnx', input_shape=None,
                           input_names=['input'], output_names=['output'],
                           dynamic_axes=dict(input={0: 'batch', 2: 'height',
                                                    3: 'width'}))
    return cfg


def export(deploy_cfg, model_cfg, checkpoint: str, image: str,
           work_dir: str, device: str = 'cpu',
           calib_images: Optional[int] = None,
           sizes: Sequence[Tuple[int, int]] = ()) -> List[str]:
    """Export the model to ``work_dir/end2end.onnx`` and convert it for the
    backend; for a deploy config with a ``quantization`` section, quantize
    it to INT8 (``end2end-int8.onnx`` / ``.xml``) with ``calib_images``
    training images (default: the config's). Return the backend files.

    ExecuTorch programs are static-shape: they are written for the network
    input sizes of the model config's test set, of ``image`` and of
    ``sizes`` (image sizes, (h, w)), and the backend file is their manifest.
    """
    deploy_cfg, model_cfg = load_configs(deploy_cfg, model_cfg)
    quantization = quantize.quantization_cfg(deploy_cfg, calib_images)
    check_inputs(deploy_cfg, model_cfg, checkpoint, image)
    if quantization:  # before the export: are the images there?
        found = len(quantize.training_images(model_cfg))
        if found < quantization['calib_images']:
            raise DeployError(
                f"asked for {quantization['calib_images']} calibration "
                f'images, but the training set has only {found}; pass '
                f'--calib {found} or fewer.')
    os.makedirs(work_dir, exist_ok=True)
    if deploy_cfg.backend_config.type == 'executorch':
        return [_export_executorch(deploy_cfg, model_cfg, checkpoint, image,
                                   work_dir, device, quantization, sizes)]
    save_file = deploy_cfg.onnx_config.save_file
    with mmdeploy_patched():
        from mmdeploy.apis import torch2onnx
        torch2onnx(image, work_dir, save_file, _export_cfg(deploy_cfg),
                   model_cfg, checkpoint, device)
    onnx_file = osp.join(work_dir, save_file)
    backend = deploy_cfg.backend_config.type
    files = [onnx_to_openvino(onnx_file, work_dir)] if backend == \
        'openvino' else [onnx_file]
    if not quantization:
        return files
    inputs = _calibration_inputs(deploy_cfg, model_cfg, checkpoint, device,
                                 quantization['calib_images'])
    stem, ext = osp.splitext(files[0])
    quantizer = quantize.quantize_openvino if backend == 'openvino' else \
        quantize.quantize_onnxruntime
    return [quantizer(files[0], inputs, f'{stem}-int8{ext}', quantization)]


def _pytorch_model(model_cfg: Config, checkpoint: Optional[str] = None,
                   device='cpu'):
    """The model of ``model_cfg`` with the checkpoint's weights (none: the
    host parts of an ExecuTorch model, which have none)."""
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    cfg = copy.deepcopy(model_cfg)
    cfg.model.get('backbone', {}).pop('init_cfg', None)
    init_default_scope(cfg.default_scope)
    registry = __import__(f'{cfg.default_scope}.registry',
                          fromlist=['MODELS']).MODELS
    model = registry.build(cfg.model)
    if checkpoint:
        load_checkpoint(model, checkpoint, map_location='cpu',
                        logger='silent')
    return model.to(device).eval()


def _network_input_shapes(model, model_cfg: Config, deploy_cfg: Config,
                          images=(), sizes=()) -> List[Tuple[int, int]]:
    """The distinct (H, W) the model's network sees on the model config's
    test set (when it is there), on ``images`` and on ``images[0]`` resized
    to ``sizes``."""
    import cv2
    from mmengine.runner import Runner
    extra = [load_image(path) for path in images]
    extra += [cv2.resize(extra[0], (w, h)) for h, w in sizes] if extra else []
    with mmdeploy_patched():  # its task processor reads arrays
        from mmdeploy.apis.utils import build_task_processor
        processor = build_task_processor(model_cfg, _processor_cfg(deploy_cfg),
                                         'cpu')
        try:
            batches = list(Runner.build_dataloader(model_cfg.test_dataloader))
        except (FileNotFoundError, OSError) as e:
            # e.g. exporting on a machine without the test set: programs
            # for the image and --sizes only; deploy_test names any size
            # that then lacks one
            from mmengine.logging import MMLogger
            MMLogger.get_current_instance().warning(
                f'test set not readable ({e}): ExecuTorch programs only for '
                'the image and --sizes')
            batches = []
        batches += [processor.create_input(img)[0] for img in extra]
    shapes = set()
    with torch.no_grad():
        for batch in batches:
            x = model.data_preprocessor(batch, False)['inputs']
            shapes.add(tuple(x.shape[-2:]))
    return sorted(shapes)


def _export_executorch(deploy_cfg, model_cfg, checkpoint, image, work_dir,
                       device, quantization, sizes) -> str:
    from ..models import switch_to_deploy
    from . import executorch
    scope = executorch.task_of(model_cfg)
    model = _pytorch_model(model_cfg, checkpoint, device)
    shapes = _network_input_shapes(model, model_cfg, deploy_cfg, [image],
                                   sizes)
    if len(shapes) > executorch.MAX_SHAPES:
        raise DeployError(
            f'the test set and the image make {len(shapes)} different '
            f'network input sizes ({shapes[:4]}...); ExecuTorch programs are '
            f'static-shape, one per size, at most {executorch.MAX_SHAPES}: '
            "give the test pipeline a fixed size (dict(type='Resize', "
            'scale=(W, H), keep_ratio=False)), as an app runs a fixed camera '
            'size.')
    calibration = data_samples = None
    if quantization:
        calibration = _calibration_inputs(
            deploy_cfg, model_cfg, checkpoint, device,
            quantization['calib_images'], model.data_preprocessor)
        if scope == 'mmdet':
            from mmdet.structures import DetDataSample
            h, w = shapes[0]
            data_samples = [DetDataSample(metainfo=dict(
                img_shape=(h, w), ori_shape=(h, w), scale_factor=(1., 1.),
                batch_input_shape=(h, w), pad_shape=(h, w)))]
    switch_to_deploy(model)
    return executorch.export_programs(model, scope, shapes, work_dir,
                                      calibration, data_samples)


def _calibration_inputs(deploy_cfg, model_cfg, checkpoint, device, num,
                        preprocessor=None):
    """Calibration inputs as the deployed model's preprocessor makes them."""
    with mmdeploy_patched():
        from mmdeploy.apis.utils import build_task_processor
        from mmdeploy.utils import get_input_shape
        processor = build_task_processor(model_cfg, _processor_cfg(deploy_cfg),
                                         device)
        preprocessor = preprocessor or _backend_preprocessor(processor)
        return quantize.calibration_inputs(
            processor, preprocessor, get_input_shape(deploy_cfg), model_cfg,
            num)


def pads_in_graph(model_cfg: Config) -> bool:
    """Whether the exported graph pads the image itself (mmdet's one- and
    two-stage detectors, see :mod:`.rewriters`)."""
    if model_cfg.get('default_scope') != 'mmdet':
        return False
    from mmdet.models.detectors import SingleStageDetector, TwoStageDetector
    from mmdet.registry import MODELS
    detector = MODELS.get(model_cfg.model.type)
    return isinstance(detector, type) and issubclass(
        detector, (SingleStageDetector, TwoStageDetector))


def _backend_preprocessor_cfg(processor, data_preprocessor):
    """The deployed model's data preprocessor: mmdeploy's, except that for
    a graph that pads the image itself the host does not pad."""
    data_preprocessor = processor.update_data_preprocessor(data_preprocessor)
    if pads_in_graph(processor.model_cfg):
        data_preprocessor['pad_size_divisor'] = 1
    return data_preprocessor


#: The data preprocessor each library builds when a config names none.
DEFAULT_PREPROCESSORS = dict(mmdet='DetDataPreprocessor',
                             mmseg='SegDataPreProcessor',
                             mmpretrain='ClsDataPreprocessor')


def _backend_preprocessor(processor):
    cfg = _backend_preprocessor_cfg(processor, copy.deepcopy(
        processor.model_cfg.model.get('data_preprocessor', {})))
    scope = processor.model_cfg.default_scope
    cfg.setdefault('type', DEFAULT_PREPROCESSORS[scope])
    registry = __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS
    return registry.build(cfg)


def build_backend_model(processor, backend_files: List[str]):
    """mmdeploy's backend model of ``processor``'s task, with
    :func:`_backend_preprocessor_cfg`."""
    return processor.build_backend_model(
        backend_files,
        lambda cfg: _backend_preprocessor_cfg(processor, cfg))


def predict_both(deploy_cfg, model_cfg, checkpoint: str,
                 backend_files: List[str], images: Sequence,
                 device: str = 'cpu') -> List[tuple]:
    """Run PyTorch (the checkpoint, as mmdet/mmseg run it) and the backend
    on each image (a path or a BGR array); return ``[(pytorch outputs,
    backend outputs), ...]``."""
    deploy_cfg, model_cfg = load_configs(deploy_cfg, model_cfg)
    results = []
    with mmdeploy_patched():
        from mmdeploy.apis.utils import build_task_processor
        from mmdeploy.utils import get_input_shape
        processor = build_task_processor(model_cfg, _processor_cfg(deploy_cfg),
                                         device)
        shape = get_input_shape(deploy_cfg)
        pytorch = processor.build_pytorch_model(checkpoint)
        if deploy_cfg.backend_config.type == 'executorch':
            backend = executorch_model(model_cfg, backend_files[0], device)
        else:
            backend = build_backend_model(processor, backend_files)
        for image in images:
            data, _ = processor.create_input(image, shape)
            with torch.no_grad():
                ours = pytorch.test_step(data)[0]
                theirs = backend.test_step(data)[0]
            results.append((prediction_arrays(ours), prediction_arrays(theirs)))
    return results


def compare_at_sizes(deploy_cfg, model_cfg, checkpoint: str,
                     backend_files: List[str], image: str,
                     sizes: Sequence[Tuple[int, int]],
                     device: str = 'cpu') -> List[dict]:
    """:func:`compare` on ``image`` as it is and resized to each ``(h, w)``
    of ``sizes`` (other sizes and aspect ratios than the export's): a
    dynamic-shape model must equal PyTorch at all of them."""
    import cv2
    original = load_image(image)
    images = [original] + [cv2.resize(original, (w, h),
                                      interpolation=cv2.INTER_LINEAR)
                           for h, w in sizes]
    rows = []
    for img, (ours, theirs) in zip(images, predict_both(
            deploy_cfg, model_cfg, checkpoint, backend_files, images,
            device)):
        rows.append(dict(image_size=f'{img.shape[0]}x{img.shape[1]}',
                         **compare(ours, theirs)))
    return rows


def executorch_model(model_cfg: Config, manifest: str, device='cpu'):
    """The model config's model computing with the ExecuTorch programs of
    ``manifest`` (:func:`.executorch.attach`)."""
    from . import executorch
    return executorch.attach(_pytorch_model(model_cfg, device=device),
                             executorch.Programs(manifest))


def evaluate(deploy_cfg, model_cfg, backend_files: List[str],
             work_dir: str, device: str = 'cpu',
             cfg_options: Optional[dict] = None) -> dict:
    """The model config's test set and metrics (COCO AP, mIoU, top-1) on
    the deployed model, through mmdeploy's test runner (ExecuTorch:
    mmengine's, with the programs in the model); returns the metrics."""
    deploy_cfg, model_cfg = load_configs(deploy_cfg, model_cfg)
    if cfg_options:
        model_cfg.merge_from_dict(cfg_options)
    check_inputs(deploy_cfg, model_cfg)
    check_static_shape(deploy_cfg, model_cfg)
    for path in backend_files:
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'deployed model not found: {path!r}; write it with '
                'tools/deployment/deploy.py first')
    if deploy_cfg.backend_config.type == 'executorch':
        return _evaluate_executorch(model_cfg, backend_files[0], work_dir)
    with mmdeploy_patched():
        from mmdeploy.apis.utils import build_task_processor
        processor = build_task_processor(model_cfg, deploy_cfg, device)
        dataset = processor.build_dataset(model_cfg.test_dataloader.dataset)
        loader_cfg = copy.deepcopy(model_cfg.test_dataloader)
        loader_cfg.dataset = dataset
        dataloader = processor.build_dataloader(loader_cfg)
        model = build_backend_model(processor, backend_files)
        runner = processor.build_test_runner(
            model, work_dir, log_file=None, show=False, show_dir=None,
            wait_time=0, interval=1, dataloader=dataloader)
        runner.register_hook(ProgressBarHook(len(dataloader)))
        return runner.test()


def _evaluate_executorch(model_cfg: Config, manifest: str, work_dir: str):
    from mmengine.runner import Runner

    from . import executorch
    cfg = copy.deepcopy(model_cfg)
    cfg.model.get('backbone', {}).pop('init_cfg', None)
    cfg.work_dir, cfg.load_from = work_dir, None
    for key in ('train_dataloader', 'train_cfg', 'optim_wrapper',
                'param_scheduler', 'val_dataloader', 'val_cfg',
                'val_evaluator'):
        cfg[key] = None
    runner = Runner.from_cfg(cfg)
    executorch.attach(runner.model, executorch.Programs(manifest))
    runner.register_hook(ProgressBarHook(len(runner.test_dataloader)))
    return runner.test()


class ProgressBarHook(Hook):
    """A progress bar over the test batches (mmengine's ``ProgressBar``)."""

    priority = 'LOWEST'

    def __init__(self, total: int):
        self.total = total
        self.bar = None

    def before_test(self, runner) -> None:
        self.bar = ProgressBar(self.total)

    def after_test_iter(self, runner, batch_idx, data_batch=None,
                        outputs=None) -> None:
        self.bar.update()
