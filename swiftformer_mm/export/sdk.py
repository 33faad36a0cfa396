# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""The files mmdeploy's SDK reads beside a deployed model: ``deploy.json``,
``pipeline.json`` and ``detail.json``, written by mmdeploy's own
``export2SDK`` (what mmdeploy's ``tools/deploy.py --dump-info`` writes), so
that ``mmdeploy_runtime.Detector`` / ``Segmentor`` / ``Classifier`` and the
SDK's C, C++, C# and Java APIs load the folder.

Written only where the SDK's pipeline computes what mmdet, mmseg and
mmpretrain compute (:func:`sdk_problems` says why not, and what to use):

* the SDK's pre-processing is built from the model config's test pipeline,
  and mmdeploy keeps only the steps the SDK has (mmseg: loading and the
  first ``Resize``); a dropped step that changes the pixels (e.g. mmseg's
  ``ResizeToMultiple``) would feed the network another image;
* the SDK's segmentation post-processing (``ResizeMask``) resizes the
  graph's output straight to the image: the graph must end at the class
  scores at the input's size (``resize_to_input=True``, the
  ``*_sdk.py`` deploy configs), not at the decode head's 1/4-resolution
  logits, which the host must resize and crop first;
* the detectors' graphs pad their input themselves (to clip boxes to the
  unpadded image, as mmdet does): the SDK's pre-processing must not pad;
* the SDK runs ONNX Runtime (and, built from source, OpenVINO, TensorRT,
  ...), not ExecuTorch.

mmdeploy SDK 1.3.1 has one bug that touches these models: its instance-
segmentation post-processing (``ResizeInstanceMask``) reads the network's
boxes before the CPU stream has finished copying them, so Mask R-CNN's
detections change from run to run (see :data:`SDK_MASK_RACE`).
"""
import json
import os
import os.path as osp
from typing import List, Optional, Sequence

from mmengine.config import Config

from .mmdeploy_compat import mmdeploy_patched

SDK_FILES = ('deploy.json', 'pipeline.json', 'detail.json')
#: Backends mmdeploy's SDK can run (its prebuilt mmdeploy-runtime package:
#: ONNX Runtime; built from source: OpenVINO too).
SDK_BACKENDS = ('onnxruntime', 'openvino')
#: Test-pipeline steps that change no pixels: the SDK needs none of them.
NO_PIXELS = ('LoadImageFromFile', 'LoadImageFromNDArray', 'LoadAnnotations',
             'PackSegInputs', 'PackDetInputs', 'PackInputs',
             'PackClsInputs')
#: What the SDK's steps are called where mmdeploy renames a test step.
SDK_NAMES = {'ResizeEdge': 'Resize', 'RandomResize': 'Resize'}
SDK_MASK_RACE = (
    "mmdeploy SDK 1.3.1 (the latest) races in Mask R-CNN's post-processing: "
    'ResizeInstanceMask (csrc/mmdeploy/codebase/mmdet/instance_segmentation'
    '.cpp) reads the boxes before the CPU stream has copied them out of the '
    'network (its `stream().Wait()` is commented out; ResizeBBox has it), '
    'so detections change from run to run and a garbage box can abort the '
    'process (OpenCV `s >= 0`). Seen with a ResNet-50 Mask R-CNN too. '
    'Ways around it: C/C++ hosts add a profiler to the context '
    '(mmdeploy::Context::Add(Profiler); the network step then waits for '
    'its copies); or restore that Wait() when building the SDK; or use '
    'ResizeBBox in pipeline.json for the boxes alone; or run Mask R-CNN '
    "with mmdeploy's Python API or swiftformer_mm.export.pipeline."
    'load_deployed_model (docs/deployment.md, "mmdeploy\'s SDK").')


def sdk_problems(deploy_cfg: Config, model_cfg: Config) -> List[str]:
    """Why the SDK cannot run this deployment as mmdet/mmseg/mmpretrain
    run the model, each with its fix (empty: it can)."""
    problems = []
    backend = deploy_cfg.backend_config.type
    if backend not in SDK_BACKENDS:
        problems.append(f'mmdeploy\'s SDK does not run {backend} models; '
                        f'deploy to one of {SDK_BACKENDS} for it')
    codebase = deploy_cfg.codebase_config
    if codebase.type == 'mmseg' and not codebase.get('resize_to_input',
                                                     True):
        sdk_config = ('configs/deploy/segmentation_onnxruntime_dynamic_sdk'
                      '.py' if backend == 'onnxruntime' else
                      "a deploy config with codebase_config=dict("
                      "resize_to_input=True, with_argmax=False), as "
                      'configs/deploy/segmentation_onnxruntime_dynamic_sdk'
                      '.py has')
        problems.append(
            "the graph ends at the decode head's 1/4-resolution logits, "
            'which the SDK would resize straight to the image without '
            f'cropping the padding; for the SDK deploy with {sdk_config} '
            '(class scores at the input size)')
    return problems


def _dropped_steps(model_cfg: Config, pipeline: dict) -> List[str]:
    """Test-pipeline steps that change pixels but are not in the SDK's
    pre-processing."""
    test = model_cfg.get('test_pipeline') or \
        model_cfg.test_dataloader.dataset.pipeline
    transforms = pipeline['pipeline']['tasks'][0]['transforms']
    kept = {t['type'] for t in transforms}
    return [step['type'] for step in test
            if step['type'] not in NO_PIXELS
            and SDK_NAMES.get(step['type'], step['type']) not in kept]


def write_sdk_files(deploy_cfg: Config, model_cfg: Config, work_dir: str,
                    model_files: Sequence[str] = (),
                    checkpoint: Optional[str] = None,
                    device: str = 'cpu') -> List[str]:
    """Write ``deploy.json``, ``pipeline.json`` and ``detail.json`` into
    ``work_dir`` (beside the deployed model) with mmdeploy's
    ``export2SDK``; return their paths. ``model_files`` are the deployed
    model's files (the export's answer): deploy.json names them, e.g. the
    INT8 model ``end2end-int8.onnx``, where mmdeploy would name
    ``end2end.onnx``. Raises ``ValueError`` naming the problem and the fix
    where the SDK would compute something else (:func:`sdk_problems`, and
    test steps the SDK lacks)."""
    problems = sdk_problems(deploy_cfg, model_cfg)
    if problems:
        raise ValueError('; '.join(problems))
    from mmdeploy.backend.sdk.export_info import (get_deploy, get_detail,
                                                  get_pipeline)
    with mmdeploy_patched():
        infos = dict(
            zip(SDK_FILES,
                (get_deploy(deploy_cfg, model_cfg, work_dir, device),
                 get_pipeline(deploy_cfg, model_cfg, work_dir, device),
                 get_detail(deploy_cfg, model_cfg, pth=checkpoint or ''))))
    if model_files:
        net = infos['deploy.json']['models'][0]
        net['net'] = osp.basename(model_files[0])
        net['weights'] = next((osp.basename(f) for f in model_files
                               if f.endswith('.bin')), '')
        if deploy_cfg.get('quantization'):
            net['precision'] = 'INT8'
    if deploy_cfg.codebase_config.type == 'mmdet':
        # The detectors' graphs pad their input themselves and clip the
        # boxes to the unpadded size (swiftformer_mm/export/rewriters.py,
        # 4.): padded by the SDK first, the graph would take the padding
        # for image and keep boxes that mmdet clips (or drops in NMS).
        steps = infos['pipeline.json']['pipeline']['tasks'][0]['transforms']
        steps[:] = [t for t in steps if t['type'] != 'Pad']
    dropped = _dropped_steps(model_cfg, infos['pipeline.json'])
    if dropped:
        raise ValueError(
            f"the model config's test pipeline has {dropped}, which "
            "mmdeploy's SDK does not have: its pre-processing would skip "
            'them and feed the network other pixels than mmdet/mmseg/'
            'mmpretrain do. SwiftFormer takes any input size, so a '
            'ResizeToMultiple can go; remove such steps from the test '
            'pipeline (and evaluate again) to deploy for the SDK.')
    paths = []
    for name, info in infos.items():
        path = osp.join(work_dir, name)
        tmp = path + '.tmp'
        with open(tmp, 'w') as f:  # atomic: the SDK never sees half a file
            json.dump(info, f, indent=4)
        os.replace(tmp, path)
        paths.append(path)
    return paths
