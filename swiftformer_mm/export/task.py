# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""What every runtime's deployment shares about the model's task, whichever
runtime it goes to: the two configs, the PyTorch model, the network inputs
its test pipeline makes from images, and the data preprocessor of the
deployed model. No function here asks which runtime it is.
"""
import copy
import importlib
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config

from ..inputs import load_image

#: The data preprocessor each library builds when a config names none.
DEFAULT_PREPROCESSORS = dict(mmdet='DetDataPreprocessor',
                             mmseg='SegDataPreProcessor',
                             mmpretrain='ClsDataPreprocessor')
#: The backend-model type (mmdeploy's ``codebase_config.model_type``) of a
#: segmentation graph that ends at the logits
#: (:class:`~.mmdeploy_compat.LogitsSegmentationModel`).
SEG_LOGITS_MODEL = 'end2end_logits'
#: The backend-model type that runs a batch of images of different sizes
#: image by image (:class:`~.mmdeploy_compat.PerSizeDetectionModel`).
DET_PER_SIZE_MODEL = 'end2end_per_size'


def load_configs(deploy_cfg, model_cfg) -> Tuple[Config, Config]:
    """Both configs, as copies. For segmentation, the deploy config also
    records the decode head's ``align_corners`` and ``threshold``, which the
    host-side post-processing needs (:func:`~.seg_postprocess.
    logits_to_labels`), and a graph that ends at the logits is given
    mmseg's post-processing (:data:`SEG_LOGITS_MODEL`); a detector runs
    batches of different image sizes image by image
    (:data:`DET_PER_SIZE_MODEL`)."""
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
        if not codebase.get('with_argmax', True):
            codebase.setdefault('model_type', SEG_LOGITS_MODEL)
    if codebase.get('type') == 'mmdet' and codebase.get(
            'model_type', 'end2end') == 'end2end':
        codebase['model_type'] = DET_PER_SIZE_MODEL
    return deploy_cfg, model_cfg


def registry_of(scope: str, name: str = 'MODELS'):
    from mmengine.registry import init_default_scope
    init_default_scope(scope)
    return getattr(importlib.import_module(f'{scope}.registry'), name)


def pytorch_model(model_cfg: Config, checkpoint: Optional[str] = None,
                  device: str = 'cpu') -> torch.nn.Module:
    """The model of ``model_cfg`` in eval mode, with the checkpoint's
    weights (none: e.g. the host parts of an ExecuTorch model, which have
    no weights)."""
    from mmengine.runner import load_checkpoint
    cfg = copy.deepcopy(model_cfg)
    cfg.model.get('backbone', {}).pop('init_cfg', None)
    model = registry_of(cfg.default_scope).build(cfg.model)
    if checkpoint:
        load_checkpoint(model, checkpoint, map_location='cpu',
                        logger='silent')
    return model.to(device).eval()


def pads_in_graph(model_cfg: Config) -> bool:
    """Whether an exported graph pads the image itself (mmdet's one- and
    two-stage detectors, see :mod:`.rewriters`)."""
    if model_cfg.get('default_scope') != 'mmdet':
        return False
    from mmdet.models.detectors import SingleStageDetector, TwoStageDetector
    detector = registry_of('mmdet').get(model_cfg.model.type)
    return isinstance(detector, type) and issubclass(
        detector, (SingleStageDetector, TwoStageDetector))


def deployed_preprocessor_cfg(model_cfg: Config,
                              cfg: Optional[dict] = None) -> dict:
    """The deployed model's data preprocessor config: the model's, except
    that the host does not pad an image that the graph pads itself."""
    cfg = copy.deepcopy(cfg if cfg is not None else
                        model_cfg.model.get('data_preprocessor', {}))
    if pads_in_graph(model_cfg):
        cfg['pad_size_divisor'] = 1
    return cfg


def deployed_preprocessor(model_cfg: Config) -> torch.nn.Module:
    cfg = deployed_preprocessor_cfg(model_cfg)
    cfg.setdefault('type', DEFAULT_PREPROCESSORS[model_cfg.default_scope])
    return registry_of(model_cfg.default_scope).build(cfg)


def task_inputs(model_cfg: Config, images: Sequence,
                input_shape: Optional[Sequence[int]] = None) -> dict:
    """The batch (``inputs`` and ``data_samples``) the model config's test
    pipeline makes of ``images`` (paths or BGR arrays), before the data
    preprocessor; ``input_shape`` (W, H): resized to it, for a static-shape
    model. The pipeline is prepared by mmdeploy's ``process_model_config``
    of the codebase (image arrays, static sizes), as its task processors
    do."""
    from mmengine.dataset import Compose, pseudo_collate
    scope = model_cfg.default_scope
    module = dict(mmdet='object_detection', mmseg='segmentation',
                  mmpretrain='classification')[scope]
    process = importlib.import_module(
        f'mmdeploy.codebase.{scope}.deploy.{module}').process_model_config
    images = [load_image(i) if isinstance(i, str) else i for i in images]
    # a copy: mmdet's edits the model config's pipeline in place
    cfg = process(copy.deepcopy(model_cfg), images, input_shape)
    registry_of(scope)  # the pipeline's transforms resolve in its scope
    pipeline = Compose(cfg.test_pipeline)
    # mmdet's PackDetInputs keeps the image id, which an array has not
    extra = dict(img_id=0) if scope == 'mmdet' else {}
    return pseudo_collate([pipeline(dict(img=img, **extra))
                           for img in images])


def network_inputs(model_cfg: Config, images: Sequence,
                   data_preprocessor: torch.nn.Module,
                   input_shape: Optional[Sequence[int]] = None
                   ) -> List[torch.Tensor]:
    """The tensors the network gets from each image, one image at a time."""
    with torch.no_grad():
        return [data_preprocessor(task_inputs(model_cfg, [img], input_shape),
                                  False)['inputs'] for img in images]


def resized(image: np.ndarray, sizes: Sequence[Tuple[int, int]]):
    """``image`` resized to each (h, w) of ``sizes``."""
    import cv2
    return [cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
            for h, w in sizes]
