# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""ExecuTorch programs (XNNPACK delegate, fp32 or INT8) of the classifier,
the segmentor and the detector, written by ``tools/deployment/deploy.py``
from a ``configs/deploy/*_executorch*`` config and evaluated by
``tools/deployment/deploy_test.py``; ExecuTorch's Python runtime runs them
here, the same ``.pte`` files run in its Android and iOS runtimes.

What goes into the programs is what a phone app would run there:

* classifier: image tensor -> logits;
* segmentor: image tensor -> the decode head's logits at 1/4 (the resize to
  the image and the argmax stay on the host, as mmseg does them);
* Mask R-CNN: ExecuTorch has no NMS or RoIAlign kernels, so it is split as
  an app splits it: ``features`` (backbone + FPN + the RPN's convolutions),
  ``bbox_head`` and ``mask_head`` (on RoI features, any number of RoIs);
  anchors, NMS and RoIAlign run on the host, as mmdet's own code.

On the host, the programs are run by the task's model classes of
:mod:`..executorch_models` (as mmdeploy's ``End2EndModel`` and
``PartitionTwoStageModel`` run a runtime's graphs), whose host steps are the
library's own calls. Image programs are static-shape, one per input size: an app runs
a fixed camera size, static programs are the faster ones (the bilinear
upsamples of a dynamic program fall outside XNNPACK), and in ExecuTorch
1.5.1 an INT8 program with dynamic image sizes computes wrong values.

Two rewrites make the model XNNPACK's, in a copy, for export only (the same
math): the attention's reductions become matrix products
(:class:`XnnpackAttention`: XNNPACK has no sum, expand or fractional pow,
so ``F.normalize`` split the graph into 37 delegates), and the RPN head gets
a copy per pyramid level (XNNPACK's INT8 convolutions refuse weights shared
by several nodes).
"""
import copy
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...models import switch_to_deploy
from ...models.blocks import DeployAttention
from ..errors import DeployError
from ..task import pytorch_model, task_inputs
from .base import DEPLOY_BACKENDS, DeployBackend

MANIFEST = 'executorch.json'
MAX_SHAPES = 8
#: Largest number of RoIs the RoI-head programs take (mmdet's RPN keeps
#: 1000 proposals, its detector 100 detections).
MAX_ROIS = dict(bbox_head=1000, mask_head=100)


# ----------------------------------------------------------- the rewrites
class XnnpackAttention(nn.Module):
    """:class:`DeployAttention` with XNNPACK's ops only: the math of
    :func:`~swiftformer_mm.models.blocks.efficient_additive_attention` (tokens
    as (B, N, C) rows), with every reduction written as a fully-connected
    layer or a batched matmul (XNNPACK has no sum, expand or fractional pow);
    the weights are constant buffers, as XNNPACK wants. Kept apart from the
    reference for that reason, and tested against it
    (``tests/test_fusion.py``)."""

    def __init__(self, attn: DeployAttention):
        super().__init__()
        dim = attn.qk.weight.shape[1]
        self.attn_formula = attn.attn_formula
        weight, bias = attn.qk.weight.detach(), attn.qk.bias.detach()
        # clones: a sliced view is serialised wrongly by XNNPACK
        for name, value in dict(wq=weight[:dim], bq=bias[:dim],
                                wk=weight[dim:], bk=bias[dim:],
                                wg=attn.w_g.detach().t(),
                                ones=torch.ones(1, dim)).items():
            self.register_buffer(name, value.clone().contiguous())
        self.proj, self.final = attn.proj, attn.final

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        tokens = x.flatten(2).transpose(1, 2)  # (B, N, C)

        def l2_normalize_c(t):  # over channels: sum of squares as a matmul
            norm = F.linear(t * t, self.ones).sqrt()
            return t / norm.clamp(min=1e-12)

        query = l2_normalize_c(F.linear(tokens, self.wq, self.bq))
        key = l2_normalize_c(F.linear(tokens, self.wk, self.bk))
        if self.attn_formula == 'current':
            scores = F.linear(query, self.wg).transpose(1, 2)  # (B, 1, N)
            norm = torch.bmm(scores, scores.transpose(1, 2)).sqrt()
            weights = scores / norm.clamp(min=1e-12)
        else:  # legacy: every weight is 1
            weights = torch.ones_like(query[..., :1]).transpose(1, 2)
        global_query = torch.bmm(weights, query)  # (B, 1, C)
        out = self.proj(global_query * key) + query
        return self.final(out).transpose(1, 2).reshape(B, C, H, W)


def for_xnnpack(model: nn.Module) -> nn.Module:
    """A copy of ``model`` (SwiftFormer in deploy form) with
    :class:`XnnpackAttention` in place of every :class:`DeployAttention`."""
    model = copy.deepcopy(model)
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, DeployAttention):
                setattr(module, name, XnnpackAttention(child))
    return model


# ------------------------------------------------------------- programs
class _Classifier(nn.Module):

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.head(self.model.extract_feat(x))


class _Segmentor(nn.Module):

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.decode_head.forward(self.model.extract_feat(x))


class _DetectorFeatures(nn.Module):
    """Backbone + neck + the RPN's convolutions, one RPN copy per level."""

    def __init__(self, model, num_levels: int):
        super().__init__()
        self.model = model
        self.rpn = nn.ModuleList(copy.deepcopy(model.rpn_head)
                                 for _ in range(num_levels))

    def forward(self, x):
        feats = tuple(self.model.extract_feat(x))
        outs = [head.forward_single(f) for head, f in zip(self.rpn, feats)]
        return feats + tuple(o[0] for o in outs) + tuple(o[1] for o in outs)


class _Head(nn.Module):

    def __init__(self, head):
        super().__init__()
        self.head = head

    def forward(self, x):
        out = self.head(x)
        return tuple(out) if isinstance(out, (tuple, list)) else out


def task_of(model_cfg) -> str:
    scope = model_cfg.default_scope
    if scope == 'mmdet' and not {'rpn_head', 'roi_head'} <= set(
            model_cfg.model):
        raise DeployError(
            'ExecuTorch deployment of detectors covers two-stage ones with an '
            'RPN and a RoI head (Mask R-CNN, Faster R-CNN); '
            f'{model_cfg.model.type} is neither; deploy it to ONNX Runtime '
            'or OpenVINO (configs/deploy/detection_*).')
    return scope


def image_programs(model, scope: str) -> Dict[str, nn.Module]:
    if scope == 'mmpretrain':
        return dict(classifier=_Classifier(model))
    if scope == 'mmseg':
        return dict(segmentor=_Segmentor(model))
    levels = len(model.rpn_head.prior_generator.strides)
    return dict(features=_DetectorFeatures(model, levels))


def roi_programs(model, scope: str) -> Dict[str, nn.Module]:
    if scope != 'mmdet':
        return {}
    heads = dict(bbox_head=_Head(model.roi_head.bbox_head))
    if getattr(model.roi_head, 'with_mask', False):
        heads['mask_head'] = _Head(model.roi_head.mask_head)
    return heads


# ---------------------------------------------------------------- export
def _unsupported_ops(program) -> List[str]:
    """Operators of the program the installed runtime has no kernel for."""
    from executorch.extension.pybindings.portable_lib import \
        _get_operator_names
    known = set(_get_operator_names())
    ops = program.executorch_program.execution_plan[0].operators
    names = [f'{o.name}.{o.overload}' if o.overload else o.name for o in ops]
    return sorted(n for n in set(names) if n not in known)


def _is_l2_norm_part(node) -> bool:
    """Whether an exported graph node is one of :class:`XnnpackAttention`'s
    L2-norm reductions: a square ``t * t`` or a product by the ``ones`` or
    ``wg`` buffer."""
    if node.target == torch.ops.aten.mul.Tensor:
        return node.args[0] is node.args[1]
    if node.target == torch.ops.aten.linear.default:
        weight = node.args[1]
        return weight.op == 'get_attr' and str(weight.target).rsplit(
            '.', 1)[-1] in ('ones', 'wg')
    return False


def quantize(module: nn.Module, example: Tuple,
             calibration: List[Tuple], dynamic_shapes=None,
             cfg: Optional[dict] = None) -> nn.Module:
    """``module`` quantized to INT8 with PT2E and XNNPACK's quantizer
    (symmetric, per-channel weights), calibrated on ``calibration`` (a list
    of argument tuples).

    ``cfg`` (a deploy config's ``quantization``): ``l2_norms_in_fp32``
    (default False: the attention's L2-norm reductions,
    :func:`_is_l2_norm_part`, are quantized as the rest; True keeps them in
    fp32). (Restricting the quantizer to convs and linears, as the ONNX
    Runtime configs do, gave programs ExecuTorch 1.5.1 failed to load.)"""
    import executorch.kernels.quantized  # noqa: F401  int8 kernels
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer, get_symmetric_quantization_config)
    from torchao.quantization.pt2e.quantize_pt2e import (convert_pt2e,
                                                          prepare_pt2e)
    norms_in_fp32 = (cfg or {}).get('l2_norms_in_fp32', False)

    def quantized(node) -> bool:
        return not (norms_in_fp32 and _is_l2_norm_part(node))

    graph = torch.export.export(module, example, dynamic_shapes=dynamic_shapes,
                                strict=False).module()
    quantizer = XNNPACKQuantizer().set_global(
        get_symmetric_quantization_config(is_per_channel=True))
    prepared = prepare_pt2e(graph, quantizer.set_filter_function(quantized))
    with torch.no_grad():
        for args in calibration:
            prepared(*args)
    return convert_pt2e(prepared)


def lower(module: nn.Module, example: Tuple, name: str,
          dynamic_shapes=None, calibration: Optional[List[Tuple]] = None,
          quantization: Optional[dict] = None):
    """``module`` as an ExecuTorch program with the XNNPACK delegate;
    INT8 (PT2E, XNNPACK's quantizer, per-channel weights) when calibration
    inputs are given (``quantization``: :func:`quantize`'s ``cfg``). Fails
    with the operator's name where the export, the lowering or the runtime
    lacks one."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import \
        XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower
    module = module.eval()
    try:
        if calibration is not None:
            module = quantize(module, example, calibration, dynamic_shapes,
                              quantization)
        exported = torch.export.export(module, example,
                                       dynamic_shapes=dynamic_shapes,
                                       strict=False)
        foreign = sorted({str(n.target) for n in exported.graph.nodes
                          if n.op == 'call_function' and not str(
                              n.target).startswith(('aten.', 'quantized_'))
                          and 'getitem' not in str(n.target)})
        if foreign:
            raise DeployError(f'{name}: ExecuTorch cannot run {foreign} '
                              '(not an ATen operator)')
        program = to_edge_transform_and_lower(
            exported, partitioner=[XnnpackPartitioner()]).to_executorch()
    except DeployError:
        raise
    except Exception as e:  # noqa: BLE001 - name the op, keep the cause
        raise DeployError(
            f'{name}: ExecuTorch could not export or lower it: '
            f'{type(e).__name__}: {str(e).splitlines()[0][:300]}') from e
    missing = _unsupported_ops(program)
    if missing:
        raise DeployError(f'{name}: the ExecuTorch runtime has no kernel for '
                          f'{missing}')
    return program


def _resized(x: torch.Tensor, shape) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(shape):
        return x
    return F.interpolate(x, size=tuple(shape), mode='bilinear',
                         align_corners=False)


def roi_calibration(model, images: Sequence[torch.Tensor], data_samples):
    """The inputs the RoI heads see when the model runs on ``images``."""
    seen = dict(bbox_head=[], mask_head=[])
    hooks = [getattr(model.roi_head, name).register_forward_pre_hook(
        lambda m, args, name=name: seen[name].append((args[0].clone(), )))
        for name in seen if hasattr(model.roi_head, name)]
    try:
        with torch.no_grad():
            for x in images:
                model.predict(x, copy.deepcopy(data_samples))
    finally:
        for hook in hooks:
            hook.remove()
    return {k: [v for v in vs if v[0].shape[0] > 0] for k, vs in seen.items()}


def export_programs(model, scope: str, shapes: Sequence[Tuple[int, int]],
                    work_dir: str, calibration: Optional[List] = None,
                    data_samples=None, quantization: Optional[dict] = None
                    ) -> str:
    """Write the programs of ``model`` (deploy form, eval mode) for the
    image ``shapes`` into ``work_dir``, INT8 when ``calibration`` (network
    inputs) is given (``quantization``: the deploy config's keys,
    :func:`quantize`); return the manifest's path."""
    os.makedirs(work_dir, exist_ok=True)
    xnn = for_xnnpack(model).eval()
    manifest = dict(task=scope, precision='int8' if calibration else 'fp32',
                    images={}, rois={})
    for name, module in image_programs(xnn, scope).items():
        manifest['images'][name] = {}
        for h, w in shapes:
            example = (torch.zeros(1, 3, h, w), )
            calib = [(_resized(x, (h, w)), ) for x in calibration] \
                if calibration else None
            program = lower(module, example, f'{name} {h}x{w}',
                            calibration=calib, quantization=quantization)
            file = f'{name}_{h}x{w}.pte'
            with open(osp.join(work_dir, file), 'wb') as f:
                f.write(program.buffer)
            manifest['images'][name][f'{h}x{w}'] = file
    rois = roi_programs(xnn, scope)
    roi_calib = roi_calibration(
        model, [_resized(x, shapes[0]) for x in calibration],
        data_samples) if rois and calibration else {}
    for name, module in rois.items():
        channels = model.roi_head.bbox_roi_extractor.out_channels
        size = 7 if name == 'bbox_head' else 14
        # XNNPACK plans a dynamic batch for the example's size and fails
        # above 15 if the example is smaller
        example = (torch.zeros(64, channels, size, size), )
        dim = torch.export.Dim(f'rois_{name}', min=1, max=MAX_ROIS[name])
        program = lower(module, example, name, dynamic_shapes={'x': {0: dim}},
                        calibration=roi_calib.get(name) or None
                        if calibration else None, quantization=quantization)
        with open(osp.join(work_dir, f'{name}.pte'), 'wb') as f:
            f.write(program.buffer)
        manifest['rois'][name] = f'{name}.pte'
    path = osp.join(work_dir, MANIFEST)
    with open(path, 'w') as f:
        json.dump(manifest, f, indent=1)
    return path


# --------------------------------------------------------------- runtime
class Programs:
    """The programs of a manifest, loaded on first use."""

    def __init__(self, manifest: str):
        if osp.isdir(manifest):
            manifest = osp.join(manifest, MANIFEST)
        if not osp.isfile(manifest):
            raise FileNotFoundError(
                f'no ExecuTorch programs at {manifest!r}: write them with '
                'tools/deployment/deploy.py and an executorch deploy config')
        with open(manifest) as f:
            self.spec = json.load(f)
        self.root = osp.dirname(manifest)
        self.methods = {}

    def _method(self, file: str):
        if file not in self.methods:
            from executorch.runtime import Runtime
            # the path, not a bytes buffer: a buffer must outlive the method
            program = Runtime.get().load_program(osp.join(self.root, file))
            self.methods[file] = program.load_method('forward')
        return self.methods[file]

    def image(self, name: str, x: torch.Tensor):
        """The program for ``x``'s size, run on each image of the batch;
        outputs concatenated along the batch."""
        key = f'{x.shape[-2]}x{x.shape[-1]}'
        files = self.spec['images'][name]
        if key not in files:
            raise DeployError(
                f'no ExecuTorch {name} program for a {key} input in '
                f'{self.root} (programs for {sorted(files)}); the programs '
                'are static-shape: write one for this size with '
                f'tools/deployment/deploy.py ... --sizes {key}')
        method = self._method(files[key])
        outs = [method.execute([x[i:i + 1].contiguous()])
                for i in range(x.shape[0])]
        return [torch.cat(parts) for parts in zip(*outs)]

    def rois(self, name: str, x: torch.Tensor,
             empty_shapes: Sequence[Tuple[int, ...]]) -> List[torch.Tensor]:
        """The RoI head program on the RoI features ``x``, any number of
        them: none gives empty outputs of ``empty_shapes`` (the program
        takes at least one), more than it takes are run in chunks."""
        if x.shape[0] == 0:
            return [x.new_zeros(0, *shape) for shape in empty_shapes]
        method = self._method(self.spec['rois'][name])
        parts = [method.execute([chunk.contiguous()])
                 for chunk in x.split(MAX_ROIS[name])]
        return [torch.cat(outs) for outs in zip(*parts)]


def network_input_shapes(model, model_cfg,
                         images: Sequence) -> List[Tuple[int, int]]:
    """The distinct (H, W) the model's network sees on the model config's
    test set (when it is there) and on ``images`` (BGR arrays)."""
    from mmengine.runner import Runner
    try:
        batches = list(Runner.build_dataloader(model_cfg.test_dataloader))
    except (FileNotFoundError, OSError) as e:
        # e.g. exporting on a machine without the test set: programs for the
        # image and --sizes only; deploy_test names any size that then lacks
        # one
        from mmengine.logging import MMLogger
        MMLogger.get_current_instance().warning(
            f'test set not readable ({e}): ExecuTorch programs only for the '
            'image and --sizes')
        batches = []
    batches += [task_inputs(model_cfg, [img]) for img in images]
    shapes = set()
    with torch.no_grad():
        for batch in batches:
            x = model.data_preprocessor(batch, False)['inputs']
            shapes.add(tuple(x.shape[-2:]))
    return sorted(shapes)


@DEPLOY_BACKENDS.register_module('executorch')
class ExecuTorchBackend(DeployBackend):
    """ExecuTorch programs with the XNNPACK delegate, one per image size
    (:func:`export_programs`), run by :mod:`..executorch_models`."""

    name = 'executorch'
    package = 'executorch.runtime'
    install = ('bash tools/setup_env.sh installs it (pip install '
               'executorch==1.5.1 torchao==0.18.0 --no-deps, plus flatbuffers,'
               ' ruamel.yaml)')
    #: ExecuTorch 1.5 is built against torch 2.13 (its wheels carry compiled
    #: ops for it) and exports through that torch's torch.export.
    min_torch = (2, 13)
    runtime = 'ExecuTorch 1.5'
    instead = ('Deploy to ONNX Runtime or OpenVINO here (configs/deploy/'
               '*_onnxruntime*, *_openvino*), or to ExecuTorch from the newest '
               'supported stack (bash tools/setup_env.sh, or pip install '
               '"swiftformer_mm[executorch]").')

    def host_preprocessor(self):
        # the programs take the input as the PyTorch model does (padded by
        # the host where mmdet pads)
        return pytorch_model(self.model_cfg).data_preprocessor

    def export(self, checkpoint, image, work_dir, sizes=(), calibration=None):
        from ...inputs import load_image
        from ..task import resized
        scope = task_of(self.model_cfg)
        model = pytorch_model(self.model_cfg, checkpoint, self.device)
        first = load_image(image)
        shapes = network_input_shapes(model, self.model_cfg,
                                      [first] + resized(first, sizes))
        if len(shapes) > MAX_SHAPES:
            raise DeployError(
                f'the test set and the image make {len(shapes)} different '
                f'network input sizes ({shapes[:4]}...); ExecuTorch programs '
                f'are static-shape, one per size, at most {MAX_SHAPES}: give '
                "the test pipeline a fixed size (dict(type='Resize', "
                'scale=(W, H), keep_ratio=False)), as an app runs a fixed '
                'camera size.')
        data_samples = None
        if calibration and scope == 'mmdet':
            from mmdet.structures import DetDataSample
            h, w = shapes[0]
            data_samples = [DetDataSample(metainfo=dict(
                img_shape=(h, w), ori_shape=(h, w), scale_factor=(1., 1.),
                batch_input_shape=(h, w), pad_shape=(h, w)))]
        switch_to_deploy(model)
        return [export_programs(model, scope, shapes, work_dir, calibration,
                                data_samples,
                                self.deploy_cfg.get('quantization'))]

    def load(self, files):
        from ..executorch_models import build_executorch_model
        return build_executorch_model(self.model_cfg, Programs(files[0]),
                                      self.device)

    def network(self, model, x):
        return lambda: model.network(x)
