# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""The one way a model goes to ONNX here: mmdeploy's exporter
(``mmdeploy.apis.onnx.export``: TorchScript tracing under its rewriters and
ours, :mod:`.rewriters`) for ONNX Runtime's standard-op graph, which
OpenVINO converts too. Whole detectors and segmentors
(:func:`export_task`), the backbone alone (``tools/deployment/
export_onnx.py``) and the backbone benchmarks all go through
:func:`to_onnx`.
"""
import os
import os.path as osp
from typing import Dict, Optional, Sequence

import torch
from mmengine.config import Config

from .mmdeploy_compat import mmdeploy_patched

#: The runtime whose rewrites make the graph: ONNX's standard operators,
#: read by ONNX Runtime and by OpenVINO's converter alike (mmdeploy's own
#: OpenVINO rewrites are for a converter that no longer exists).
GRAPH_FLAVOUR = 'onnxruntime'


def to_onnx(model: torch.nn.Module, inputs, path: str,
            deploy_cfg: Optional[Config] = None,
            input_names: Sequence[str] = ('input', ),
            output_names: Optional[Sequence[str]] = None,
            dynamic_axes: Optional[Dict] = None, opset: int = 17,
            input_metas: Optional[dict] = None,
            optimize: bool = False) -> str:
    """Trace ``model`` on ``inputs`` into ``path`` (``.onnx``) with
    mmdeploy's exporter; ``deploy_cfg`` is what the rewriters read (the
    codebase's post-processing settings), none for a bare network."""
    from mmdeploy.apis.onnx import export
    assert path.endswith('.onnx'), path
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with mmdeploy_patched(), torch.no_grad():
        export(model.eval(), inputs, path[:-len('.onnx')],
               backend=GRAPH_FLAVOUR, input_metas=input_metas,
               context_info=dict(deploy_cfg=deploy_cfg if deploy_cfg
                                 is not None else Config()),
               input_names=list(input_names),
               output_names=list(output_names) if output_names else None,
               opset_version=opset, dynamic_axes=dynamic_axes,
               keep_initializers_as_inputs=False, optimize=optimize)
    return path


def export_task(deploy_cfg: Config, model_cfg: Config, checkpoint: str,
                image, work_dir: str, device: str = 'cpu') -> str:
    """The whole model of ``model_cfg`` (as mmdeploy's task processor
    builds it, with the checkpoint) traced on ``image`` into ``work_dir/
    <onnx_config.save_file>``, with the deploy config's names, dynamic axes,
    opset and static input shape: what mmdeploy's ``torch2onnx`` does, with
    the graph flavour fixed (:data:`GRAPH_FLAVOUR`)."""
    from mmdeploy.apis.utils import build_task_processor
    from mmdeploy.utils import get_dynamic_axes, get_input_shape
    onnx_cfg = deploy_cfg.onnx_config
    with mmdeploy_patched():
        processor = build_task_processor(model_cfg, deploy_cfg, device)
        model = processor.build_pytorch_model(checkpoint)
        data, inputs = processor.create_input(
            image, get_input_shape(deploy_cfg),
            data_preprocessor=getattr(model, 'data_preprocessor', None))
        if isinstance(inputs, list) and len(inputs) == 1:
            inputs = inputs[0]
        names = list(onnx_cfg.input_names) + list(onnx_cfg.output_names)
        return to_onnx(
            model, inputs, osp.join(work_dir, onnx_cfg.save_file), deploy_cfg,
            onnx_cfg.input_names, onnx_cfg.output_names,
            get_dynamic_axes(deploy_cfg, names),
            onnx_cfg.get('opset_version', 11),
            input_metas=dict(data_samples=data['data_samples'],
                             mode='predict'),
            optimize=onnx_cfg.get('optimize', False))
