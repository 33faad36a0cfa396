# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Deploying a detector, segmentor or classifier, whichever the runtime:
:func:`export`, :func:`load_deployed_model`, :func:`deployed_inferencer`,
:func:`compare_at_sizes` and :func:`evaluate`, behind ``tools/deployment/deploy.py``,
``deploy_test.py``, ``deploy_accuracy.py`` and the benchmarks. Each
runtime's steps are its module's in :mod:`.backends` (ONNX Runtime,
OpenVINO, ExecuTorch); this module orchestrates them and never asks which
runtime it is.

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
from . import quantize
from .backends import build_backend
from .compare import compare, prediction_arrays
from .errors import DeployError
from .mmdeploy_compat import mmdeploy_patched
from .task import load_configs, pytorch_model, resized, task_inputs

MIN_SIDE = 32  # SwiftFormer's total stride


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
    build_backend(deploy_cfg, model_cfg)  # supported and installed
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


def export(deploy_cfg, model_cfg, checkpoint: str, image: str,
           work_dir: str, device: str = 'cpu',
           calib_images: Optional[int] = None,
           sizes: Sequence[Tuple[int, int]] = ()) -> List[str]:
    """Deploy the model of ``model_cfg`` with the checkpoint's weights to
    the runtime of ``deploy_cfg``, traced on ``image``; for a deploy config
    with a ``quantization`` section, INT8, calibrated on ``calib_images``
    training images (default: the config's). Return the deployed files.

    ``sizes`` (image sizes, (h, w)) are further sizes the model must run at:
    ExecuTorch programs are static-shape, written for the network input
    sizes of the model config's test set, of ``image`` and of ``sizes``
    (the backend file is their manifest); dynamic graphs need nothing more.
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
        deploy_cfg.quantization = quantization
    os.makedirs(work_dir, exist_ok=True)
    backend = build_backend(deploy_cfg, model_cfg, device)
    # one block of mends for the whole deployment (the steps nest theirs)
    with mmdeploy_patched():
        calibration = backend.calibration_inputs(
            quantization['calib_images']) if quantization else None
        return backend.export(checkpoint, image, work_dir, sizes, calibration)


def load_deployed_model(deploy_cfg, model_cfg, backend_files: List[str],
                        device: str = 'cpu') -> torch.nn.Module:
    """The deployed model in ``backend_files`` as an mmengine model of the
    task: ``test_step(batch)`` takes the batch of the model config's test
    pipeline and returns the library's data samples (boxes and masks,
    class maps, scores), as the PyTorch model's ``test_step`` does."""
    deploy_cfg, model_cfg = load_configs(deploy_cfg, model_cfg)
    for path in backend_files:
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'deployed model not found: {path!r}; write it with '
                'tools/deployment/deploy.py first')
    return build_backend(deploy_cfg, model_cfg, device).load(backend_files)


#: The library's own inferencer for each codebase: its pre-processing,
#: visualisation and prediction files, around the deployed model.
INFERENCERS = dict(mmdet=('mmdet.apis', 'DetInferencer'),
                   mmseg=('mmseg.apis', 'MMSegInferencer'),
                   mmpretrain=('mmpretrain.apis',
                               'ImageClassificationInferencer'))


def deployed_inferencer(deploy_cfg, model_cfg, backend_files: List[str],
                        device: str = 'cpu'):
    """mmdet's ``DetInferencer``, mmseg's ``MMSegInferencer`` or
    mmpretrain's ``ImageClassificationInferencer`` for the model config,
    running the deployed model of ``backend_files`` (any runtime, ExecuTorch
    included) instead of PyTorch: call it on images or a folder as the
    library's inferencer (``out_dir=`` writes the pictures to ``vis/`` and,
    for mmdet and mmpretrain, the predictions as JSON to ``preds/``). Use
    and call it inside :func:`~.mmdeploy_compat.mmdeploy_patched`.

    Example:
        >>> with mmdeploy_patched():  # doctest: +SKIP
        ...     inferencer = deployed_inferencer(
        ...         'configs/deploy/instance-seg_onnxruntime_dynamic.py',
        ...         MODEL_CFG, ['work_dirs/deploy/det_ort/end2end.onnx'])
        ...     inferencer('demo.jpg', out_dir='outputs/deployed')
    """
    import importlib
    deploy_cfg, model_cfg = load_configs(deploy_cfg, model_cfg)
    scope = model_cfg.default_scope
    module, name = INFERENCERS[scope]
    model = load_deployed_model(deploy_cfg, model_cfg, backend_files, device)
    cfg = copy.deepcopy(model_cfg)
    cfg.model.get('backbone', {}).pop('init_cfg', None)  # no weights to read
    # The inferencer builds the PyTorch model (weights=None: random) for its
    # class names and palette, then runs the deployed one.
    extra = dict(mmdet=dict(weights=None, show_progress=False),
                 mmseg=dict(weights=None), mmpretrain=dict(pretrained=False))
    inferencer = getattr(importlib.import_module(module), name)(
        model=cfg, device=device, **extra[scope])
    meta = getattr(inferencer.model, 'dataset_meta', None)
    if meta is not None:  # mmpretrain's keeps its classes itself
        model.dataset_meta = meta
    inferencer.model = model
    return inferencer


def deployed_network(deploy_cfg, model_cfg, model: torch.nn.Module,
                     x: torch.Tensor):
    """A call of a deployed model's network alone on the preprocessed
    ``x``, without the host's steps (for timing)."""
    deploy_cfg, model_cfg = load_configs(deploy_cfg, model_cfg)
    return build_backend(deploy_cfg, model_cfg).network(model, x)


def predict_both(deploy_cfg, model_cfg, checkpoint: str,
                 backend_files: List[str], images: Sequence,
                 device: str = 'cpu', batch_size: int = 1,
                 reference_batch_size: Optional[int] = None) -> List[tuple]:
    """Run PyTorch (the checkpoint, as mmdet/mmseg/mmpretrain run it) and
    the deployed model on ``images`` (paths or BGR arrays), ``batch_size``
    at a time (PyTorch: ``reference_batch_size``, default the same); return
    ``[(pytorch outputs, deployed outputs), ...]``, one pair per image
    (:func:`~.compare.prediction_arrays`)."""
    deploy_cfg, model_cfg = load_configs(deploy_cfg, model_cfg)
    shape = deploy_cfg.get('onnx_config', {}).get('input_shape')
    models = {}

    def predict(name, size):
        out = []
        for start in range(0, len(images), size):
            batch = task_inputs(model_cfg, images[start:start + size], shape)
            with torch.no_grad():
                out += [prediction_arrays(sample)
                        for sample in models[name].test_step(batch)]
        return out

    with mmdeploy_patched():
        models['pytorch'] = pytorch_model(model_cfg, checkpoint, device)
        models['deployed'] = load_deployed_model(deploy_cfg, model_cfg,
                                                 backend_files, device)
        return list(zip(predict('pytorch', reference_batch_size or batch_size),
                        predict('deployed', batch_size)))


def compare_at_sizes(deploy_cfg, model_cfg, checkpoint: str,
                     backend_files: List[str], image: str,
                     sizes: Sequence[Tuple[int, int]],
                     device: str = 'cpu') -> List[dict]:
    """:func:`compare` on ``image`` as it is and resized to each ``(h, w)``
    of ``sizes`` (other sizes and aspect ratios than the export's): a
    dynamic-shape model must equal PyTorch at all of them."""
    original = load_image(image)
    images = [original] + resized(original, sizes)
    rows = []
    for img, (ours, theirs) in zip(images, predict_both(
            deploy_cfg, model_cfg, checkpoint, backend_files, images,
            device)):
        rows.append(dict(image_size=f'{img.shape[0]}x{img.shape[1]}',
                         **compare(ours, theirs)))
    return rows


def evaluate(deploy_cfg, model_cfg, backend_files: List[str],
             work_dir: str, device: str = 'cpu',
             cfg_options: Optional[dict] = None) -> dict:
    """The model config's test set and metrics (COCO AP, mIoU, top-1) on
    the deployed model (:func:`load_deployed_model`), with mmengine's
    Runner; returns the metrics."""
    from mmengine.runner import Runner
    deploy_cfg, model_cfg = load_configs(deploy_cfg, model_cfg)
    if cfg_options:
        model_cfg.merge_from_dict(cfg_options)
    check_inputs(deploy_cfg, model_cfg)
    check_static_shape(deploy_cfg, model_cfg)
    cfg = model_cfg
    with mmdeploy_patched():
        model = load_deployed_model(deploy_cfg, model_cfg, backend_files,
                                    device)
        runner = Runner(
            model=model, work_dir=work_dir, default_scope=cfg.default_scope,
            test_dataloader=cfg.test_dataloader,
            test_cfg=cfg.get('test_cfg') or dict(type='TestLoop'),
            test_evaluator=cfg.test_evaluator,
            default_hooks=cfg.get('default_hooks'),
            env_cfg=cfg.get('env_cfg', dict(dist_cfg=dict(backend='gloo'))),
            visualizer=cfg.get('visualizer'),
            log_level=cfg.get('log_level', 'INFO'))
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
