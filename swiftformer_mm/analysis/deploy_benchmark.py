# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Speed of deployed models (``tools/analysis_tools/benchmark.py deployed``
and ``quantized-backbone``): PyTorch eager against ONNX Runtime, OpenVINO
and ExecuTorch, fp32 and INT8, interleaved in one process (:mod:`.timing`).

The models have random, non-trivial weights (speed does not depend on the
values). INT8 models are calibrated, as ``tools/deployment/deploy.py``
calibrates them, on training images: here those of the generated demo sets
(:mod:`swiftformer_mm.demo_data`), which the model configs are pointed at.
"""
import copy
import os
import tempfile

import cv2
import numpy as np
import torch

from ..configs import get_config_path
from ..models import SwiftFormer, switch_to_deploy
from .records import fp32_of
from .timing import interleaved, machine, parse_size
from .weights import randomize_



def _demo_training_set(task: str, work: str, model_cfg) -> dict:
    """Generate a small demo training set; return the model-config options
    that make it the config's training set (for calibration); the
    classifier's is set in ``model_cfg`` directly."""
    from ..demo_data import ade, cls, coco
    root = os.path.join(work, 'calibration_data')
    if task == 'classifier':  # the ImageNet config's set is replaced
        cls.generate(root, train_per_class=2, val_per_class=1, size=64)
        model_cfg.train_dataloader.dataset = dict(
            type='CustomDataset', data_root=root, data_prefix='train',
            pipeline=[])
        return {}
    key, dataset = 'train_dataloader.dataset', model_cfg.train_dataloader.dataset
    while 'dataset' in dataset:  # RepeatDataset, ...
        key, dataset = key + '.dataset', dataset.dataset
    if task == 'segmentor':
        ade.generate(root, num_train=16, num_val=1)
        return {f'{key}.data_root': root}
    coco.generate(root, num_train=16, num_val=1)
    return {f'{key}.data_root': root + '/',
            f'{key}.metainfo': dict(classes=coco.CLASSES),  # not COCO's 80
            f'{key}.ann_file': 'annotations/instances_train.json',
            f'{key}.data_prefix.img': 'train/'}


def bench_deployed(args):
    """Per-image latency (batch 1), end to end (``test_step``: preprocessing,
    network, post-processing) and of the network alone, of PyTorch eager
    and of the model deployed to each of ``args.backends``."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from ..export import pipeline
    from ..export.mmdeploy_compat import mmdeploy_patched
    from ..export.task import load_configs, task_inputs
    task = args.task or 'segmentor'
    if task == 'classifier':
        config = f'classification/swiftformer_{args.arch}_in1k.py'
        h, w = parse_size(args.size or '224x224')
        deploy = 'deploy/classification_{}.py'
        options = {}
        scope, name = 'mmpretrain', 'SwiftFormer classifier'
    elif task == 'segmentor':
        config = f'segmentation/semantic_fpn_swiftformer_{args.arch}.py'
        h, w = parse_size(args.size or '512x512')
        deploy = 'deploy/segmentation_{}.py'
        options = {'model.backbone.norm_cfg': dict(type='BN'),
                   'model.decode_head.norm_cfg': dict(type='BN')}
        scope, name = 'mmseg', 'Semantic FPN'
    else:
        config = f'detection/mask_rcnn_swiftformer_{args.arch}.py'
        h, w = parse_size(args.size or '800x1344')
        deploy = 'deploy/instance-seg_{}.py'
        # every image carries the maximum 100 detections into the mask
        # head, in PyTorch and in the deployed graph alike
        options = {'model.test_cfg.rcnn.score_thr': 0.0}
        scope, name = 'mmdet', 'Mask R-CNN'
    work = tempfile.mkdtemp(prefix='bench_deployed_')
    options['model.backbone.init_cfg'] = None
    model_cfg = Config.fromfile(get_config_path(config))
    if any('int8' in b for b in args.backends):
        options.update(_demo_training_set(task, work, model_cfg))
    model_cfg.merge_from_dict(options)
    init_default_scope(scope)
    registry = __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS
    model = randomize_(registry.build(copy.deepcopy(model_cfg.model))).eval()
    ckpt = os.path.join(work, 'model.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpt)
    image = os.path.join(work, 'image.png')
    cv2.imwrite(image, np.random.default_rng(0).integers(
        0, 256, (h, w, 3), dtype=np.uint8))
    deploy_cfgs = {backend: get_config_path(deploy.format(
        backend if backend.startswith('executorch') else f'{backend}_dynamic'))
        for backend in args.backends}
    with mmdeploy_patched():  # once, around every export and load
        candidates = {}
        for backend, deploy_cfg in deploy_cfgs.items():
            files = pipeline.export(deploy_cfg, model_cfg, ckpt, image,
                                    os.path.join(work, backend),
                                    calib_images=args.calib if 'int8' in
                                    backend else None)
            candidates[backend] = pipeline.load_deployed_model(
                deploy_cfg, model_cfg, files)
    data = task_inputs(load_configs(deploy_cfgs[args.backends[0]],
                                    model_cfg)[1], [image])
    models = {'PyTorch eager': model,
              'PyTorch eager (deploy form)':
              switch_to_deploy(copy.deepcopy(model)), **candidates}

    def end_to_end(m):
        with torch.no_grad():
            return m.test_step(data)
    fns = {k: (lambda m=m: end_to_end(m)) for k, m in models.items()}
    x = model.data_preprocessor(copy.deepcopy(data), False)['inputs']
    network = {}
    if task != 'detector':  # the deployed graph ends where this does
        def torch_network():
            with torch.no_grad():
                if task == 'segmentor':
                    model.decode_head.forward(model.extract_feat(x))
                else:
                    model(x, mode='tensor')
        network['PyTorch eager'] = torch_network
        for backend, m in candidates.items():
            network[backend] = pipeline.deployed_network(
                deploy_cfgs[backend], model_cfg, m, x)
    fns.update({f'{k}, network only': v for k, v in network.items()})
    med = interleaved(fns, args.repeats, warmup=1)
    print(f'## {name} {args.arch.upper()}, {h}x{w} image ({x.shape[-2]}x'
          f'{x.shape[-1]} network input), batch 1, CPU (median of '
          f'{args.repeats}, interleaved): {machine()}\n')
    print('| model | per image (ms) | vs PyTorch eager | vs fp32, same '
          'runtime |\n|---|---|---|---|')
    for k, t in med.items():
        part = ', network only' if k.endswith('network only') else ''
        ref = med[f'PyTorch eager{part}']
        runtime = k.replace(part, '')
        fp32 = med.get(runtime.replace('-int8', '') + part) \
            if '-int8' in runtime else None
        print(f'| {k} | {t * 1e3:.0f} | {t / ref:.2f}x | '
              + (f'{t / fp32:.2f}x' if fp32 else '') + ' |')
    return dict(per_image_ms={k: round(t * 1e3, 2) for k, t in med.items()})


def _onnx_runtime_files(model, x, calib, families, work) -> dict:
    """The backbone's model files for ONNX Runtime and / or OpenVINO, fp32
    and INT8 recipes, by the names the tables give them."""
    from ..export.backends import onnxruntime as ort_backend
    from ..export.backends import openvino as ov_backend
    from ..export.onnx import to_onnx
    from ..export.quantize import matmuls_as_convs
    onnx_file = os.path.join(work, 'backbone.onnx')
    to_onnx(model, x, onnx_file, opset=13)
    # ONNX Runtime: as the *onnxruntime-int8* deploy configs quantize, and
    # the recipes measured against it
    shipped = dict(per_channel=True, op_types=['Conv', 'MatMul', 'Gemm'])
    ort_recipes = {
        'onnxruntime-int8': shipped,
        'onnxruntime-int8 (GELU not fused)': dict(shipped, fuse_gelu=False),
        'onnxruntime-int8 (attention products as MatMuls)': dict(
            shipped, matmuls_as_convs=False),
        # without VNNI, ONNX Runtime's u8 x s8 kernels add pairs of products
        # in saturating 16-bit sums; these two recipes cannot saturate
        'onnxruntime-int8 (7-bit weights, reduce_range)': dict(
            shipped, reduce_range=True),
        'onnxruntime-int8 (uint8 weights, U8U8)': dict(
            shipped, weight_type='uint8'),
        # what else ONNX Runtime offers: one scale per weight tensor, and
        # its QLinear* operators written out instead of QDQ pairs
        'onnxruntime-int8 (per-tensor weights)': dict(shipped,
                                                      per_channel=False),
        'onnxruntime-int8 (QOperator format)': dict(shipped,
                                                    quant_format='QOperator'),
    }
    files = {}
    if 'openvino' in families:
        xml = ov_backend.onnx_to_openvino(onnx_file, work)
        # OpenVINO INT8 as the deploy configs quantize: the attention's
        # products as convs (matmuls_as_convs); beside it, left as MatMuls
        products = os.path.join(work, 'products_as_convs', 'backbone.onnx')
        os.makedirs(os.path.dirname(products), exist_ok=True)
        matmuls_as_convs(onnx_file, products)
        shipped_ir = ov_backend.onnx_to_openvino(products,
                                                 os.path.dirname(products))
        mixed = dict(preset='mixed', model_type='transformer')
        ov_recipes = {
            'openvino-int8': (shipped_ir, mixed),
            'openvino-int8 (attention products as MatMuls)': (xml, mixed),
            # NNCF's other preset: symmetric activations too, no zero
            # points for the kernels to compensate
            'openvino-int8 (performance preset)': (
                shipped_ir, dict(mixed, preset='performance')),
            # NNCF's ignored scopes: parts left in fp32, so that no
            # quantize / dequantize pair surrounds them
            'openvino-int8 (attention in fp32, ignored scope)': (
                shipped_ir, dict(mixed, ignored_patterns=['.*/attn/.*'])),
            'openvino-int8 (depthwise convs in fp32, ignored scope)': (
                shipped_ir, dict(mixed, ignored_patterns=['.*dwconv.*'])),
        }
        files['openvino'] = xml
        files.update({name: ov_backend.quantize(
            ir, calib, ir.replace('.xml', f'-int8-{i}.xml'), recipe)
            for i, (name, (ir, recipe)) in enumerate(ov_recipes.items())})
    if 'onnxruntime' in families:
        files['onnxruntime'] = onnx_file
        files.update({name: ort_backend.quantize(
            onnx_file, calib, onnx_file.replace('.onnx', f'-int8-{i}.onnx'),
            recipe) for i, (name, recipe) in enumerate(ort_recipes.items())})
    return files


# OpenVINO CPU plugin properties beside its defaults (a LATENCY hint, one
# stream, fp32 as exported): flushing denormals, and TBB's auto partitioner
# for its parallel loops
OPENVINO_CPU_HINTS = {'CPU_DENORMALS_OPTIMIZATION': True,
                      'TBB_PARTITIONER': 'AUTO'}
HINTS_NAME = 'CPU hints: denormals flushed, TBB auto partitioner'


def _onnx_runtimes(model, x, calib, families, work) -> dict:
    """Timed calls of the backbone in ONNX Runtime and / or OpenVINO, fp32
    and INT8 recipes."""
    from ..export.mmdeploy_compat import OpenVINORuntimeWrapper
    files = _onnx_runtime_files(model, x, calib, families, work)
    import onnxruntime as ort
    fns = {}
    for runtime, path in files.items():
        if runtime.startswith('openvino'):
            compiled = OpenVINORuntimeWrapper(path).compiled
            fns[runtime] = lambda c=compiled: c({'input': x.numpy()})
            if runtime in ('openvino', 'openvino-int8'):
                # the CPU plugin's hints that may change a latency run,
                # fp32 and INT8 alike, so that the ratio compares the two
                # under the same hints
                compiled = OpenVINORuntimeWrapper(
                    path, config=OPENVINO_CPU_HINTS).compiled
                fns[f'{runtime} ({HINTS_NAME})'] = \
                    lambda c=compiled: c({'input': x.numpy()})
        else:
            options = ort.SessionOptions()
            options.intra_op_num_threads = torch.get_num_threads()
            session = ort.InferenceSession(path, options,
                                           providers=['CPUExecutionProvider'])
            fns[runtime] = lambda s=session: s.run(None,
                                                   {'input': x.numpy()})
    return fns


def _executorch_programs(model, x, calib, work) -> dict:
    """Timed calls of the backbone as ExecuTorch programs (XNNPACK), fp32
    and INT8 recipes (the XNNPACK quantizer's settings)."""
    from executorch.runtime import Runtime

    from ..export.backends import executorch as et_backend
    xnn = et_backend.for_xnnpack(model).eval()
    recipes = {
        'executorch': None,
        'executorch-int8': {},  # as the *executorch-int8* deploy configs
        'executorch-int8 (L2 norms in fp32)': dict(l2_norms_in_fp32=True),
    }
    fns = {}
    for i, (name, recipe) in enumerate(recipes.items()):
        program = et_backend.lower(
            xnn, (x, ), name, quantization=recipe,
            calibration=None if recipe is None else [(c, ) for c in calib])
        path = os.path.join(work, f'backbone-{i}.pte')
        with open(path, 'wb') as f:
            f.write(program.buffer)
        method = Runtime.get().load_program(path).load_method('forward')
        fns[name] = lambda m=method: m.execute([x])
    return fns


def _backbone_and_calibration(args):
    """The deploy-form backbone (random weights), its input and the
    calibration inputs (demo-set images, normalised as the configs do)."""
    h, w = parse_size(args.size or '512x512')
    work = tempfile.mkdtemp(prefix='bench_int8_backbone_')
    model = switch_to_deploy(randomize_(SwiftFormer(args.arch))).eval()
    x = torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(0))
    from ..demo_data import ade
    root = os.path.join(work, 'calibration_data')
    ade.generate(root, num_train=args.calib or 16, num_val=1)
    mean = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)
    folder = os.path.join(root, 'images', 'training')
    calib = []
    for name in sorted(os.listdir(folder)):
        img = cv2.resize(cv2.imread(os.path.join(folder, name)), (w, h))
        t = torch.from_numpy(img[..., ::-1].copy()).permute(2, 0, 1)[None]
        calib.append((t.float() - mean) / std)
    return model, x, calib, work


def _ort_op_times(path, x, runs) -> dict:
    """ms per call of each op type (ONNX Runtime's own profiler)."""
    import json

    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.enable_profiling = True
    options.profile_file_prefix = os.path.splitext(path)[0] + '_profile'
    session = ort.InferenceSession(path, options,
                                   providers=['CPUExecutionProvider'])
    feed = {'input': x.numpy()}
    session.run(None, feed)  # warm-up, profiled too: counted below
    for _ in range(runs):
        session.run(None, feed)
    with open(session.end_profiling()) as f:
        events = json.load(f)
    times = {}
    for event in events:
        if event.get('cat') == 'Node' and event['name'].endswith(
                '_kernel_time'):
            op = event['args']['op_name']
            times[op] = times.get(op, 0) + event['dur'] / 1e3
    return {op: t / (runs + 1) for op, t in times.items()}


def _openvino_op_times(path, x, runs) -> dict:
    """ms per call of each (op type, kernel) (OpenVINO's PERF_COUNT): the
    kernel (``exec_type``, e.g. ``jit_avx2_I8`` or ``jit_avx2_FP32``) says
    which ops run on integers."""
    import openvino as ov
    core = ov.Core()
    compiled = core.compile_model(core.read_model(path), 'CPU', {
        'PERF_COUNT': 'YES', 'INFERENCE_PRECISION_HINT': 'f32',
        'INFERENCE_NUM_THREADS': torch.get_num_threads()})
    request = compiled.create_infer_request()
    times = {}
    for _ in range(runs + 1):
        request.infer({0: x.numpy()})
        if _ == 0:
            continue  # warm-up
        for info in request.get_profiling_info():
            key = f'{info.node_type} ({info.exec_type})'
            times[key] = times.get(key, 0) + \
                info.real_time.total_seconds() * 1e3
    return {op: t / runs for op, t in times.items()}


def bench_int8_ops(args):
    """Where the time of the backbone goes, per op type, fp32 against the
    shipped INT8 recipe, in ONNX Runtime and OpenVINO (their profilers):
    which ops INT8 makes faster or slower on this CPU."""
    model, x, calib, work = _backbone_and_calibration(args)
    files = _onnx_runtime_files(model, x, calib, ['onnxruntime', 'openvino'],
                                work)
    runs = args.repeats
    figures = {}
    print(f'## SwiftFormer-{args.arch.upper()} backbone, '
          f'{x.shape[2]}x{x.shape[3]}, batch 1, per op type, mean of {runs} '
          f'profiled calls: {machine()}\n')
    for runtime, profile in (('onnxruntime', _ort_op_times),
                             ('openvino', _openvino_op_times)):
        fp32 = profile(files[runtime], x, runs)
        int8 = profile(files[f'{runtime}-int8'], x, runs)
        figures[runtime] = {k: round(v, 3) for k, v in fp32.items()}
        figures[f'{runtime}-int8'] = {k: round(v, 3) for k, v in int8.items()}
        print(f'### {runtime}: fp32 {sum(fp32.values()):.1f} ms, INT8 '
              f'{sum(int8.values()):.1f} ms (sum of the ops)\n')
        print('| op | fp32 ms | INT8 ms |\n|---|---|---|')
        for op in sorted(set(fp32) | set(int8),
                         key=lambda o: -max(fp32.get(o, 0), int8.get(o, 0))):
            print(f'| {op} | {fp32.get(op, 0):.2f} | {int8.get(op, 0):.2f} |')
        print()
    return dict(op_ms=figures)


def bench_quantized_backbone(args):
    """The SwiftFormer backbone alone (deploy form), fp32 and INT8, against
    PyTorch eager: in ONNX Runtime and OpenVINO, or (``--backends
    executorch``) in ExecuTorch, each runtime's INT8 as the deploy configs
    quantize it beside the recipes measured against that."""
    families = sorted({b.replace('-int8', '') for b in args.backends})
    model, x, calib, work = _backbone_and_calibration(args)
    h, w = x.shape[2:]
    fns = {}
    if 'onnxruntime' in families or 'openvino' in families:
        fns.update(_onnx_runtimes(model, x, calib, families, work))
    if 'executorch' in families:
        fns.update(_executorch_programs(model, x, calib, work))

    def eager():
        with torch.no_grad():
            model(x)
    fns['PyTorch eager (deploy form)'] = eager
    med = interleaved(fns, args.repeats, warmup=1)
    print(f'## SwiftFormer-{args.arch.upper()} backbone, {h}x{w}, batch 1, '
          f'CPU (median of {args.repeats}, interleaved): {machine()}\n')
    print('| runtime | ms | vs PyTorch | vs fp32, same runtime |\n'
          '|---|---|---|---|')
    ref = med['PyTorch eager (deploy form)']
    for k, t in med.items():
        fp32 = med.get(fp32_of(k, med))
        print(f'| {k} | {t * 1e3:.1f} | {t / ref:.2f}x | '
              + (f'{t / fp32:.2f}x' if fp32 else '') + ' |')
    return dict(per_image_ms={k: round(t * 1e3, 2) for k, t in med.items()})
