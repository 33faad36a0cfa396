# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""The measurements behind ``tools/analysis_tools/benchmark.py``: latency, throughput and
memory of SwiftFormer against timm's ``swiftformer_*`` and ResNet-50, each
comparison interleaved in one process (:mod:`.timing`).

Every ``bench_*`` function takes the tool's parsed arguments and prints a
Markdown table. All models get the same random, non-trivial weights
(:func:`.weights.randomize_`): timing does not depend on the values, except in
the detector's RoI stage, where ``score_thr=0`` makes every image carry the
maximum 100 detections into the mask head for both backbones.
"""
import copy
import json
import os
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn as nn

from ..configs import get_config_path
from ..models import SwiftFormer, switch_to_deploy
from .timing import interleaved, machine, parse_size
from .weights import randomize_

#: Where the swiftformer_mm package is (a child process imports it from
#: there).
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


# ----------------------------------------------------------------- models
def timm_and_ours(arch: str):
    """timm's model with random non-trivial weights, and ours loaded from
    the same weights (through the timm checkpoint converter)."""
    import timm
    ref = timm.create_model(f'swiftformer_{arch}')
    randomize_(ref)
    ref.eval()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, f'swiftformer_{arch}.pth')
        torch.save(ref.state_dict(), path)
        ours = SwiftFormer(arch, init_cfg=dict(type='Pretrained',
                                               checkpoint=path))
        ours.init_weights()
    return ref, ours.eval()


def resnet50_trunk():
    import torchvision
    r = torchvision.models.resnet50()
    return nn.Sequential(r.conv1, r.bn1, r.relu, r.maxpool, r.layer1,
                         r.layer2, r.layer3, r.layer4).eval()


# --------------------------------------------------------------- backbone
def bench_backbone(args):
    device = args.device
    ref, ours = timm_and_ours(args.arch)
    deploy = switch_to_deploy(copy.deepcopy(ours))
    candidates = {
        f'timm swiftformer_{args.arch}': (
            ref, lambda m, x: m.forward_intermediates(
                x, intermediates_only=True)),
        'ours (training form)': (ours, lambda m, x: m(x)),
        'ours (deploy)': (deploy, lambda m, x: m(x)),
        'ResNet-50 trunk': (resnet50_trunk(), lambda m, x: m(x)),
    }
    if args.channels_last:
        cl = copy.deepcopy(deploy).to(memory_format=torch.channels_last)
        candidates['ours (deploy, channels_last)'] = (
            cl, lambda m, x: m(x.contiguous(
                memory_format=torch.channels_last)))
    if args.compile:
        candidates['ours (deploy, torch.compile)'] = (
            torch.compile(copy.deepcopy(deploy)), lambda m, x: m(x))
    precisions = ['fp32'] + (['amp fp16'] if device == 'cuda' else [])
    latency = {}  # precision -> 'HxW' -> batch -> model -> ms
    print(f'## Backbone {args.arch.upper()}, {device}: {machine()}\n')
    for precision in precisions:
        for size in args.sizes:
            h, w = parse_size(size)
            for batch in args.batch:
                x = torch.randn(batch, 3, h, w, device=device)
                fns = {}
                for name, (m, call) in candidates.items():
                    m.to(device)

                    def fn(m=m, call=call):
                        with torch.no_grad(), torch.autocast(
                                device, dtype=torch.float16,
                                enabled=precision != 'fp32'):
                            call(m, x)
                    fns[name] = fn
                med = interleaved(fns, args.repeats, device)
                latency.setdefault(precision, {}).setdefault(
                    f'{h}x{w}', {})[str(batch)] = {
                        k: round(t * 1e3, 3) for k, t in med.items()}
                base = med[f'timm swiftformer_{args.arch}']
                print(f'### {h}x{w}, batch {batch}, {precision} '
                      f'(median of {args.repeats}, interleaved)\n')
                print('| model | latency (ms) | images/s | vs timm |')
                print('|---|---|---|---|')
                for name, t in med.items():
                    print(f'| {name} | {t * 1e3:.1f} | {batch / t:.1f} | '
                          f'{t / base:.2f}x |')
                print()
                sys.stdout.flush()
    if '224x224' in args.sizes and '800x1344' in args.sizes and (
            1 in args.batch):
        print('800x1344 / 224x224 latency at batch 1 is in the tables above '
              '(pixel ratio 21.43).')
    return dict(latency_ms=latency)


def bench_scaling(args):
    """800x1344 / 224x224 latency ratio at batch 1, one process."""
    ref, ours = timm_and_ours(args.arch)
    deploy = switch_to_deploy(copy.deepcopy(ours))
    small, large = torch.randn(1, 3, 224, 224), torch.randn(1, 3, 800, 1344)
    res = {}
    for name, m in (('ours (training form)', ours), ('ours (deploy)', deploy),
                    ('timm', None)):
        call = ((lambda x: ref.forward_intermediates(
            x, intermediates_only=True)) if m is None else m)
        with torch.no_grad():
            t = interleaved({'s': lambda: call(small),
                             'l': lambda: call(large)}, args.repeats)
        res[name] = {'224x224': round(t['s'] * 1e3, 3),
                     '800x1344': round(t['l'] * 1e3, 3)}
        print(f'{name}: 224x224 {t["s"] * 1e3:.1f} ms, 800x1344 '
              f'{t["l"] * 1e3:.1f} ms, ratio {t["l"] / t["s"]:.1f} '
              '(pixels 21.43)')
    return dict(latency_ms=res)


# ------------------------------------------------------ detector/segmentor
def resolve_config(path: str) -> str:
    """``'mmdet::a/b.py'`` -> the file inside the installed package."""
    if '::' not in path:
        return path
    import importlib
    package, rel = path.split('::', 1)
    root = os.path.dirname(importlib.import_module(package).__file__)
    return os.path.join(root, '.mim', 'configs', rel)


def _build(config, scope, options):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    cfg = Config.fromfile(resolve_config(config))
    cfg.merge_from_dict(options)
    init_default_scope(scope)
    if scope == 'mmdet':
        from mmdet.registry import MODELS
    else:
        from mmseg.registry import MODELS
    model = MODELS.build(cfg.model)
    randomize_(model)
    return model.eval()


def bench_detector(args):
    from mmdet.structures import DetDataSample
    h, w = parse_size(args.size or '800x1344')
    opts = {'model.test_cfg.rcnn.score_thr': 0.0}
    sw = _build(get_config_path('detection/'
                                f'mask_rcnn_swiftformer_{args.arch}.py'),
                'mmdet', dict(opts, **{'model.backbone.init_cfg': None}))
    r50 = _build('mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py', 'mmdet',
                 dict(opts, **{'model.backbone.init_cfg': None}))
    deploy = switch_to_deploy(copy.deepcopy(sw))
    x = torch.randn(1, 3, h, w)
    meta = dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
                batch_input_shape=(h, w), scale_factor=(1.0, 1.0))

    def predict(m):
        with torch.no_grad():
            return m.predict(x, [DetDataSample(metainfo=meta)])

    def backbone(m):
        with torch.no_grad():
            return m.backbone(x)
    models = {'Mask R-CNN R-50': r50,
              f'Mask R-CNN SwiftFormer-{args.arch.upper()}': sw,
              f'Mask R-CNN SwiftFormer-{args.arch.upper()} (deploy)': deploy}
    detections = {}
    for name, m in models.items():
        detections[name] = n = len(predict(m)[0].pred_instances)
        print(f'{name}: {n} detections per image')
    whole = interleaved({k: (lambda m=m: predict(m))
                         for k, m in models.items()}, args.repeats, warmup=1)
    trunk = interleaved({k: (lambda m=m: backbone(m))
                         for k, m in models.items()}, args.repeats, warmup=1)
    base = whole['Mask R-CNN R-50']
    print(f'\n## Mask R-CNN per-image inference, {h}x{w}, batch 1, CPU '
          f'(median of {args.repeats}): {machine()}\n')
    print('| model | per image (s) | vs R-50 | backbone (s) | rest (s) |')
    print('|---|---|---|---|---|')
    for k in models:
        print(f'| {k} | {whole[k]:.2f} | {whole[k] / base:.2f}x | '
              f'{trunk[k]:.2f} | {whole[k] - trunk[k]:.2f} |')
    return dict(per_image_s={k: round(v, 4) for k, v in whole.items()},
                backbone_s={k: round(v, 4) for k, v in trunk.items()},
                detections=detections)


def bench_segmentor(args):
    h, w = parse_size(args.size or '512x512')
    sw = _build(get_config_path('segmentation/'
                                f'semantic_fpn_swiftformer_{args.arch}.py'),
                'mmseg', {'model.backbone.init_cfg': None})
    r50 = _build('mmseg::sem_fpn/fpn_r50_4xb4-160k_ade20k-512x512.py', 'mmseg',
                 {'model.pretrained': None})
    deploy = switch_to_deploy(copy.deepcopy(sw), fuse_other_conv_bn=True)
    x = torch.randn(1, 3, h, w)
    models = {'Semantic FPN R-50': r50,
              f'Semantic FPN SwiftFormer-{args.arch.upper()}': sw,
              f'Semantic FPN SwiftFormer-{args.arch.upper()} (deploy)': deploy}

    def run(m):
        with torch.no_grad():
            return m(x, mode='tensor')
    med = interleaved({k: (lambda m=m: run(m)) for k, m in models.items()},
                      args.repeats)
    base = med['Semantic FPN R-50']
    print(f'## Semantic FPN per-image inference (logits at 1/4), {h}x{w}, '
          f'batch 1, CPU (median of {args.repeats}): {machine()}\n')
    print('| model | per image (ms) | vs R-50 |\n|---|---|---|')
    for k, t in med.items():
        print(f'| {k} | {t * 1e3:.0f} | {t / base:.2f}x |')
    return dict(per_image_ms={k: round(t * 1e3, 2) for k, t in med.items()})


# ----------------------------------------------------------------- memory
_MEMORY_CHILD = r'''
import json, sys, torch
sys.path.insert(0, {root!r})
from swiftformer_mm.models import SwiftFormer
torch.manual_seed(0)
torch.set_num_threads({threads})
device = {device!r}
model = SwiftFormer({arch!r}, with_cp={with_cp}).to(device).train()
x = torch.randn({batch}, 3, {h}, {w}, device=device)
opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

def step():
    opt.zero_grad(set_to_none=True)
    loss = sum(f.float().square().mean() for f in model(x))
    loss.backward()
    opt.step()

def rss():
    with open('/proc/self/status') as f:
        d = dict(l.split(':', 1) for l in f)
    return int(d['VmRSS'].split()[0]) * 1024, int(d['VmHWM'].split()[0]) * 1024

# One step from a fresh process: after it the allocator keeps the freed
# activations' pages, so a second step would not show them on the RSS. The
# step includes creating AdamW's state (2 x params, the same with and
# without with_cp).
if device == 'cuda':
    torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    step(); torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated()
else:
    import gc; gc.collect()
    base, _ = rss()
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')  # reset the peak-RSS counter (VmHWM)
    step()
    _, peak = rss()
print(json.dumps(dict(base=base, peak=peak)))
'''


def measure_memory(arch, batch, h, w, with_cp, device='cpu') -> dict:
    code = _MEMORY_CHILD.format(root=PACKAGE_PARENT, threads=torch.get_num_threads(),
                                device=device, arch=arch, with_cp=with_cp,
                                batch=batch, h=h, w=w)
    out = subprocess.run([sys.executable, '-c', code], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_memory(args):
    h, w = parse_size(args.size or '512x512')
    rows = {}
    for with_cp in (False, True):
        rows[with_cp] = measure_memory(args.arch, args.batch[0], h, w,
                                       with_cp, args.device)
    kind = ('torch.cuda.max_memory_allocated' if args.device == 'cuda' else
            'process peak RSS (VmHWM), reset before the step')
    print(f'## Training-step peak memory, SwiftFormer-{args.arch.upper()} '
          f'backbone, batch {args.batch[0]}, {h}x{w}, {args.device} ({kind}):'
          f' {machine()}\n')
    print('| with_cp | before step (MiB) | peak (MiB) | step (peak - before, '
          'MiB) |\n|---|---|---|---|')
    for cp, r in rows.items():
        print(f'| {cp} | {r["base"] / 2**20:.0f} | {r["peak"] / 2**20:.0f} |'
              f' {(r["peak"] - r["base"]) / 2**20:.0f} |')
    a, b = rows[False], rows[True]
    print(f'\nwith_cp: peak {b["peak"] / a["peak"] - 1:+.0%}, step memory '
          f'{(b["peak"] - b["base"]) / (a["peak"] - a["base"]) - 1:+.0%}')
    return dict(memory_mib={str(cp).lower(): {
        k: round(v / 2**20, 1) for k, v in r.items()}
        for cp, r in rows.items()})


# ------------------------------------------------- output-norm tie (issue 10)
def bench_tie(args):
    """A training step of the backbone with and without the zero term that
    keeps unread levels' output norms in the graph (see
    ``SwiftFormer._tie_output_norms``)."""
    h, w = parse_size(args.size or '512x512')
    torch.manual_seed(0)
    model = SwiftFormer(args.arch).train()
    x = torch.randn(args.batch[0], 3, h, w)
    tie = model._tie_output_norms

    def step(with_tie):
        model._tie_output_norms = tie if with_tie else (lambda outs: outs)
        model.zero_grad(set_to_none=True)
        sum(f.float().square().mean() for f in model(x)).backward()
    med = interleaved({'with the tie': lambda: step(True),
                       'without': lambda: step(False)}, args.repeats,
                      warmup=1)
    model._tie_output_norms = tie
    print(f'## Training step, SwiftFormer-{args.arch.upper()} backbone, '
          f'batch {args.batch[0]}, {h}x{w} (median of {args.repeats}, '
          f'interleaved): {machine()}\n')
    print('| form | step (ms) |\n|---|---|')
    for k, t in med.items():
        print(f'| {k} | {t * 1e3:.0f} |')
    print(f"\nratio {med['with the tie'] / med['without']:.3f}")
    return dict(step_ms={k: round(t * 1e3, 2) for k, t in med.items()})


# ------------------------------------------------------- compile, profile
def bench_compile(args):
    import torch._dynamo as dynamo
    model = SwiftFormer(args.arch).eval()
    x = torch.randn(1, 3, 224, 224)
    for name, m in (('training form', model),
                    ('deploy', switch_to_deploy(copy.deepcopy(model)))):
        dynamo.reset()
        t0 = time.perf_counter()
        with torch.no_grad():
            ex = dynamo.explain(m)(x)
        print(f'{name}: {ex.graph_count} graph(s), {ex.graph_break_count} '
              f'graph break(s) ({time.perf_counter() - t0:.0f} s)')
        for reason in ex.break_reasons:
            print('  ', reason)


def bench_profile(args):
    from torch.profiler import ProfilerActivity, profile
    h, w = parse_size(args.size or '800x1344')
    ref, ours = timm_and_ours(args.arch)
    deploy = switch_to_deploy(copy.deepcopy(ours))
    x = torch.randn(1, 3, h, w)
    for name, m in (('timm', lambda: ref.forward_intermediates(
            x, intermediates_only=True)), ('ours (deploy)',
                                           lambda: deploy(x))):
        with torch.no_grad():
            m()
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                m()
        print(f'## {name}, {h}x{w}\n')
        print(prof.key_averages().table(sort_by='self_cpu_time_total',
                                        row_limit=12))
