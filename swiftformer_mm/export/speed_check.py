# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Is INT8 faster than fp32 on the machine that deploys? Measured there.

INT8's gain depends on the CPU's microarchitecture, not only on its
instruction set: on one AVX2 AMD EPYC the records show ONNX Runtime INT8 at
0.87x of fp32, on another (same name, a Zen 1 core) at 1.2x. So after
exporting an INT8 model, ``tools/deployment/deploy.py`` exports the fp32
model of the same runtime (the deploy config without its ``quantization``
section), times both end to end on the export image, interleaved, and
prints which to use (:func:`~swiftformer_mm.cpu.int8_advice` takes this
measurement first and the records' CPU classes second).

Example:
    >>> from swiftformer_mm.export.speed_check import time_int8_against_fp32
    >>> timing = time_int8_against_fp32(  # doctest: +SKIP
    ...     'configs/deploy/segmentation_onnxruntime-int8_dynamic.py',
    ...     model_cfg, 'model.pth', 'image.jpg', int8_files, 'work')
    >>> timing['ratio'] < 1  # doctest: +SKIP
    True
"""
import copy
import os.path as osp
import time
from typing import List

import torch
from mmengine.config import Config

from . import pipeline
from .task import load_configs, task_inputs


def fp32_deploy_cfg(deploy_cfg) -> Config:
    """The INT8 deploy config without its ``quantization`` section: the fp32
    model of the same runtime, exported the same way."""
    cfg = copy.deepcopy(deploy_cfg) if isinstance(
        deploy_cfg, Config) else Config.fromfile(deploy_cfg)
    cfg.pop('quantization', None)
    return cfg


def time_int8_against_fp32(deploy_cfg, model_cfg, checkpoint: str,
                           image: str, int8_files: List[str], work_dir: str,
                           device: str = 'cpu', seconds: float = 10.) -> dict:
    """Export the fp32 twin of an INT8 model, then time both end to end
    (host steps included) on ``image``, round-robin, for about ``seconds``.

    Returns:
        dict: ``fp32_ms`` and ``int8_ms`` (medians per image), ``ratio``
        (INT8 over fp32), ``repeats``.
    """
    from ..analysis.timing import interleaved
    fp32_cfg = fp32_deploy_cfg(deploy_cfg)
    fp32_files = pipeline.export(fp32_cfg, model_cfg, checkpoint, image,
                                 osp.join(work_dir, 'fp32_speed_check'),
                                 device)
    models = {
        'fp32': pipeline.load_deployed_model(fp32_cfg, model_cfg, fp32_files,
                                             device),
        'int8': pipeline.load_deployed_model(deploy_cfg, model_cfg,
                                             int8_files, device)}
    data = task_inputs(load_configs(deploy_cfg, model_cfg)[1], [image])

    def call(model):
        with torch.no_grad():
            return model.test_step(copy.deepcopy(data))
    calls = {name: (lambda m=m: call(m)) for name, m in models.items()}
    start = time.perf_counter()
    once = interleaved(calls, repeats=1, warmup=1)
    spent = time.perf_counter() - start  # a warm-up and a timed call each
    per_round = max(sum(once.values()), 1e-6)
    repeats = max(3, min(50, int((seconds - spent) / per_round)))
    med = interleaved(calls, repeats, warmup=0)
    return dict(fp32_ms=med['fp32'] * 1e3, int8_ms=med['int8'] * 1e3,
                ratio=med['int8'] / med['fp32'], repeats=repeats)
