# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Post-training INT8 quantization of deployed models, calibrated on images
of the model config's own training set.

A deploy config asks for it with a ``quantization`` section (see the
``*-int8_*`` configs in ``configs/deploy/``)::

    quantization = dict(
        type='nncf',            # OpenVINO models: NNCF's nncf.quantize
        calib_images=64,        # deploy.py --calib N overrides it
        preset='mixed', model_type='transformer',
        ignored_patterns=[...]) # layers kept in floating point (regexes)

    quantization = dict(
        type='onnxruntime',     # ONNX models: onnxruntime's quantize_static
        calib_images=64, per_channel=True,
        ignored_patterns=[...])

    quantization = dict(
        type='executorch',      # ExecuTorch programs: PT2E with XNNPACK's
        calib_images=64)        # quantizer (export/backends/executorch.py)

The images go through the model config's test pipeline and the deployed
model's data preprocessor (:meth:`~.backends.base.DeployBackend.
calibration_inputs`), so the quantizer sees exactly what the deployed
network will see; each runtime's module quantizes (``quantize()`` in
:mod:`.backends.onnxruntime`, :mod:`.backends.openvino`,
:mod:`.backends.executorch`). They are chosen with a fixed seed, so a
rerun writes the same model.
"""
import copy
import importlib
import os.path as osp
import re
from typing import List, Sequence

import numpy as np
from mmengine.config import Config

from .errors import DeployError

#: quantization type -> (backend it quantizes, package, how to install it)
QUANTIZERS = {
    'nncf': ('openvino', 'nncf', 'pip install nncf'),
    'executorch': ('executorch', 'torchao.quantization.pt2e',
                   'bash tools/setup_env.sh installs it (torchao==0.18.0)'),
    'onnxruntime': ('onnxruntime', 'onnxruntime.quantization',
                    'pip install onnxruntime'),
}
CALIBRATION_SEED = 0


def quantization_cfg(deploy_cfg: Config, calib_images=None) -> dict:
    """The deploy config's ``quantization`` section, checked (None if the
    config deploys in floating point)."""
    cfg = deploy_cfg.get('quantization')
    if cfg is None:
        if calib_images is not None:
            raise DeployError(
                '--calib was given, but the deploy config has no '
                '`quantization` section: it deploys in floating point. Use '
                'an *-int8_* config of configs/deploy/.')
        return None
    cfg = dict(cfg)
    kind = cfg.get('type')
    if kind not in QUANTIZERS:
        raise DeployError(f'quantization.type={kind!r}: one of '
                          f'{sorted(QUANTIZERS)}')
    backend, package, install = QUANTIZERS[kind]
    if deploy_cfg.backend_config.type != backend:
        raise DeployError(
            f'quantization.type={kind!r} quantizes {backend} models, but '
            f'the backend is {deploy_cfg.backend_config.type!r}')
    try:
        importlib.import_module(package)
    except ImportError as e:
        raise DeployError(f'INT8 with {kind} needs {package}, which is not '
                          f'installed ({e}); {install}') from e
    if calib_images is not None:
        cfg['calib_images'] = calib_images
    num = cfg.get('calib_images')
    if not isinstance(num, int) or num < 1:
        raise DeployError(f'calib_images must be a positive number of '
                          f'images, got {num!r}')
    return cfg


def _unwrap(dataset_cfg):
    while isinstance(dataset_cfg, dict) and 'dataset' in dataset_cfg:
        dataset_cfg = dataset_cfg['dataset']  # RepeatDataset, ...
    return dataset_cfg


def training_images(model_cfg: Config) -> List[str]:
    """Paths of the images of the model config's training set."""
    scope = model_cfg.default_scope
    dataset_cfg = copy.deepcopy(_unwrap(
        model_cfg.get('train_dataloader', {}).get('dataset')))
    if not isinstance(dataset_cfg, dict):
        raise DeployError('calibration needs the model config\'s '
                          'train_dataloader.dataset, which it does not have')
    dataset_cfg['pipeline'] = []
    dataset_cfg['serialize_data'] = False  # (it fails on an empty set)
    from mmengine.registry import init_default_scope
    init_default_scope(scope)
    datasets = importlib.import_module(f'{scope}.registry').DATASETS
    try:
        dataset = datasets.build(dataset_cfg)
    except (FileNotFoundError, OSError) as e:
        root = dataset_cfg.get('data_root', '')
        raise DeployError(
            f'INT8 calibration reads images of the model config\'s training '
            f'set, which is not there: {e} (data_root {root!r}, resolved '
            f'from {osp.abspath(".")}). Generate or download it, or point '
            'tools/deployment/deploy.py at it with --cfg-options '
            'train_dataloader.dataset.data_root=PATH (see the model '
            'config for nested datasets).') from e
    if len(dataset) == 0:
        raise DeployError(
            'INT8 calibration reads images of the model config\'s training '
            f'set, but {dataset_cfg.get("type")} at data_root '
            f'{dataset_cfg.get("data_root")!r} has none (annotations with '
            'other class names than metainfo.classes count as none). Point '
            '--cfg-options train_dataloader.dataset... at the training set.')
    return [dataset.get_data_info(i)['img_path'] for i in range(len(dataset))]


def calibration_images(model_cfg: Config, num: int) -> List[str]:
    """``num`` images of the model config's training set, a fixed random
    choice (the same model on a rerun)."""
    paths = training_images(model_cfg)
    if len(paths) < num:
        raise DeployError(
            f'asked for {num} calibration images, but the training set has '
            f'only {len(paths)}; pass --calib {len(paths)} or fewer.')
    rng = np.random.default_rng(CALIBRATION_SEED)
    return [paths[i] for i in sorted(rng.choice(len(paths), num,
                                                replace=False))]


def matching(names: Sequence[str], patterns: Sequence[str]) -> List[str]:
    """The ``names`` that one of the regular expressions matches whole."""
    return [n for n in names if any(re.fullmatch(p, n) for p in patterns)]
