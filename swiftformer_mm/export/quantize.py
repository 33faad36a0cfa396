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

    # both: matmuls_as_convs=True (the default) quantizes the attention's
    # products as 1-D convs, which both runtimes run on integers
    # (matmuls_as_convs below); ONNX Runtime: fuse_gelu=True likewise

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
import logging
import os.path as osp
import re
from typing import List, Sequence

import numpy as np
from mmengine.config import Config
from mmengine.logging import print_log

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
    """The ``names`` that one of the regular expressions matches whole.

    Where ``patterns`` (``quantization.ignored_patterns``) match no name at
    all, they keep nothing in floating point: a warning says so, with a
    name they could match. One pattern alone matching nothing is normal, as
    a deploy config serves several heads (RetinaNet's and FCOS's layers).
    """
    found = [n for n in names if any(re.fullmatch(p, n) for p in patterns)]
    if patterns and not found:
        example = f', e.g. {names[-1]!r}' if names else ''
        print_log(
            f'quantization.ignored_patterns {list(patterns)} match no node '
            'of the graph, so they keep nothing in floating point; a '
            f'pattern must match a whole node name{example}',
            logger='current', level=logging.WARNING)
    return found


def matmuls_as_convs(onnx_file: str, out_file: str) -> int:
    """Rewrite each ``MatMul(W, X)`` with a constant ``(O, I)`` weight on
    the left of ``(B, I, N)`` tokens (the attention's channels-first
    products, :class:`~swiftformer_mm.models.blocks.DeployAttention`) as
    the same product by a 1-D ``Conv`` with ``(O, I, 1)`` weights, taking a
    following ``Add`` of a constant ``(O, 1)`` bias as the conv's bias;
    returns how many were rewritten.

    ONNX Runtime's quantizer gives a MatMul weight its per-channel scales
    on the last axis, which for a weight on the left is the axis summed
    over: ONNX Runtime then cannot run the product on integers and runs it
    in fp32 on dequantized tensors. As a Conv the weight is scaled per
    output channel and runs as ``QLinearConv``. OpenVINO, given the
    MatMuls, runs most of them in fp32 too. ``benchmark.py
    quantized-backbone`` times both forms in both runtimes
    (docs/benchmarks.md). In fp32 the MatMul is the faster form, so only
    the INT8 recipes rewrite.
    """
    import onnx
    from onnx import helper, numpy_helper
    model = onnx.load(onnx_file)
    try:  # ranks through mmdeploy's computed Reshape shapes too
        from onnxruntime.tools.symbolic_shape_infer import \
            SymbolicShapeInference
        shapes = SymbolicShapeInference.infer_shapes(model, auto_merge=True)
    except Exception:  # an op it does not know, or no onnxruntime: ONNX's
        shapes = onnx.shape_inference.infer_shapes(model)  # fewer ranks
    ranks = {v.name: len(v.type.tensor_type.shape.dim)
             for v in list(shapes.graph.value_info) + list(shapes.graph.input)
             if v.type.tensor_type.HasField('shape')}
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    consumers = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def constant_bias(add, out, channels):
        other = [i for i in add.input if i != out]
        if add.op_type != 'Add' or len(other) != 1 or other[0] not in inits:
            return None
        bias = numpy_helper.to_array(inits[other[0]])
        return bias.reshape(-1) if bias.shape == (channels, 1) else None

    rewritten, dropped, nodes = 0, set(), []
    for node in graph.node:
        if id(node) in dropped:
            continue
        weight = inits.get(node.input[0]) if node.op_type == 'MatMul' \
            else None
        if weight is None or len(weight.dims) != 2 or \
                ranks.get(node.input[1]) != 3:
            nodes.append(node)
            continue
        w = numpy_helper.to_array(weight)
        inputs = [node.input[1], f'{node.name}/conv_weight']
        graph.initializer.append(numpy_helper.from_array(
            w[:, :, None].copy(), inputs[1]))
        output = node.output[0]
        users = consumers.get(output, [])
        bias = constant_bias(users[0], output, w.shape[0]) \
            if len(users) == 1 else None
        if bias is not None:
            inputs.append(f'{node.name}/conv_bias')
            graph.initializer.append(numpy_helper.from_array(bias, inputs[2]))
            output = users[0].output[0]
            dropped.add(id(users[0]))
        nodes.append(helper.make_node('Conv', inputs, [output],
                                      name=f'{node.name}/conv',
                                      kernel_shape=[1]))
        rewritten += 1
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.save(model, out_file)
    return rewritten

