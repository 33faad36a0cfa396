# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""The demo models deployed to every runtime, fp32 and INT8, against
PyTorch on the demo validation sets: top-1 of the classifier, COCO box/mask
AP of the Mask R-CNN, mIoU of the Semantic FPN, side by side.

    bash tools/run_demo.sh && bash tools/run_seg_demo.sh   # the checkpoints
    python tools/deployment/deploy_accuracy.py
        [--models classifier detector segmentor]
        [--runtimes onnxruntime openvino onnxruntime-int8 openvino-int8
                    executorch executorch-int8] [--calib 64]
        [--agreement-images 12] [--quantization KEY=VALUE ...] [--record]

Each model is deployed with tools/deployment/deploy.py's steps (INT8:
calibrated on the model config's training set) into
work_dirs/deploy_accuracy/ and evaluated with
tools/deployment/deploy_test.py's; PyTorch is evaluated as tools/test.py
does.

The demo validation splits are small (40 detection images with about 100
objects, 16 scenes), so one box more or less moves AP by a point. The
detector and the segmentor are therefore evaluated on their validation
split extended 5x by the same generator (``--val-scale``; the first 40 / 16
images are the demo's own, the rest new, never trained on).

Metrics over a data set can hide what changed image by image, so each
runtime's predictions are also matched with PyTorch's one by one on the
first ``--agreement-images`` validation images, each cropped at random to
an odd size (not the export's; ExecuTorch's static programs: uncropped):
the share of PyTorch's detections scoring 0.3 or more that the runtime has
too (same label, box IoU >= 0.9 and >= 0.95), of images given the same
top-1 label, of pixels given the same class.

``--quantization KEY=VALUE`` measures an INT8 recipe other than the deploy
configs' (their ``quantization`` keys, e.g. ``reduce_range=True``);
recorded as a variant, it appears in docs/deployment.md's table of INT8
choices, not as the shipped figures.
"""
import argparse
import os.path as osp

import cv2
import numpy as np
from mmengine.config import Config, DictAction
from mmengine.registry import DATASETS, init_default_scope
from mmengine.runner import Runner

from swiftformer_mm.demo_data import ade, coco
from swiftformer_mm.export import pipeline
from swiftformer_mm.export.compare import agreement

WORK = 'work_dirs/deploy_accuracy'
EVAL_DATA = 'data/deploy_accuracy'
CLS_DATA = 'data/demo_cls'
MODELS = {
    'classifier': dict(
        name='SwiftFormer-XS classifier (demo)',
        config='configs/classification/swiftformer_xs_demo.py',
        checkpoint='work_dirs/swiftformer_xs_cls_demo/epoch_12.pth',
        image=f'{CLS_DATA}/val/circle/00000.png',
        deploy='configs/deploy/classification_{runtime}.py',
        metrics=('accuracy/top1', ), scale=1, task='mmpretrain',
        options={f'{split}.dataset.data_root': CLS_DATA for split in
                 ('train_dataloader', 'val_dataloader', 'test_dataloader')}),
    'detector': dict(
        name='Mask R-CNN XS (demo)',
        config='configs/detection/mask_rcnn_swiftformer_xs_demo.py',
        checkpoint='work_dirs/mask_rcnn_swiftformer_xs_demo/pretrained/'
        'epoch_3.pth',
        image='data/demo_coco/val/000000.png',
        deploy='configs/deploy/instance-seg_{runtime}.py',
        metrics=('coco/bbox_mAP', 'coco/segm_mAP'), scale=100,
        task='mmdet'),
    'segmentor': dict(
        name='Semantic FPN XS (demo)',
        config='configs/segmentation/semantic_fpn_swiftformer_xs_demo.py',
        checkpoint='work_dirs/semantic_fpn_swiftformer_xs_demo/pretrained/'
        'iter_100.pth',
        image='data/ade_demo/images/validation/ADE_val_00000001.jpg',
        deploy='configs/deploy/segmentation_{runtime}.py',
        metrics=('mIoU', ), scale=1, task='mmseg'),
}
RUNTIMES = ('onnxruntime', 'openvino', 'onnxruntime-int8', 'openvino-int8',
            'executorch', 'executorch-int8')


def extended_val_set(key: str, scale: int) -> dict:
    """Generate the demo's validation split ``scale`` times as large (the
    same generator: its first images are the demo's own); return the
    model-config options that evaluate on it."""
    if key == 'detector':
        root = f'{EVAL_DATA}/demo_coco_x{scale}/'
        ann = coco.generate_split(root, 'val', 40 * scale)
        dataset = dict(data_root=root,
                       ann_file='annotations/instances_val.json')
        evaluator = dict(ann_file=ann)
    else:
        root = f'{EVAL_DATA}/ade_demo_x{scale}'
        ade.generate(root, num_train=1, num_val=16 * scale)
        dataset, evaluator = dict(data_root=root), {}
    options = {}
    cfg = Config.fromfile(MODELS[key]['config'])
    for split in ('val', 'test'):
        if cfg.get(f'{split}_dataloader') is None:
            continue  # e.g. the detection demo validates only at the end
        options.update({f'{split}_dataloader.dataset.{k}': v
                        for k, v in dataset.items()})
        options.update({f'{split}_evaluator.{k}': v
                        for k, v in evaluator.items()})
    return options


def model_config(spec, options=None) -> Config:
    cfg = Config.fromfile(spec['config'])
    cfg.merge_from_dict(spec.get('options', {}))
    cfg.merge_from_dict(options or {})
    return cfg


def pytorch_metrics(spec, work_dir, options):
    cfg = model_config(spec, options)
    cfg.work_dir = work_dir
    cfg.load_from = spec['checkpoint']  # OpenMMLab checkpoints, all three
    return Runner.from_cfg(cfg).test()


def agreement_images(cfg: Config, count: int, crop: bool = True,
                     seed: int = 0) -> list:
    """The first ``count`` images of ``cfg``'s test set (BGR), each cropped
    at random to 70-100% of its height and width, odd in both (``crop``)."""
    init_default_scope(cfg.get('default_scope'))
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    rng = np.random.RandomState(seed)
    images = []
    for index in range(min(count, len(dataset))):
        image = cv2.imread(dataset.get_data_info(index)['img_path'])
        h, w = image.shape[:2]
        if not crop:
            images.append(image)
            continue
        ch = rng.randint(int(h * .7), h) | 1
        cw = rng.randint(int(w * .7), w) | 1
        y, x = rng.randint(0, h - ch + 1), rng.randint(0, w - cw + 1)
        images.append(np.ascontiguousarray(image[y:y + ch, x:x + cw]))
    return images


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--models', nargs='+', choices=sorted(MODELS),
                        default=sorted(MODELS))
    parser.add_argument('--runtimes', nargs='+', choices=RUNTIMES,
                        default=list(RUNTIMES))
    parser.add_argument('--calib', type=int,
                        help='INT8: calibration images (default: the deploy '
                        "configs')")
    parser.add_argument('--val-scale', type=int, default=5,
                        help='detector and segmentor: evaluate on the demo '
                        'validation split made this many times as large '
                        '(1: the demo split itself)')
    parser.add_argument('--record', action='store_true',
                        help='append each model\'s metrics per runtime, '
                        'and their conditions, to docs/records/'
                        'accuracy.jsonl (the agreement to '
                        'agreement.jsonl)')
    parser.add_argument('--agreement-images', type=int, default=12,
                        help='match predictions with PyTorch\'s one by one '
                        'on this many validation images (0: not)')
    parser.add_argument('--quantization', nargs='+', action=DictAction,
                        default={}, help='INT8 runtimes: override the deploy '
                        "configs' quantization keys (a variant recipe)")
    args = parser.parse_args()
    if args.quantization and not all('int8' in r for r in args.runtimes):
        parser.error('--quantization changes INT8 recipes: give only INT8 '
                     '--runtimes')
    # the table's rows appear as each model is done
    print('\n| model | metric | PyTorch | ' +
          ' | '.join(f'{r} (diff)' for r in args.runtimes) + ' |')
    print('|---|---|---|' + '---|' * len(args.runtimes), flush=True)
    for key in args.models:
        spec = MODELS[key]
        for path in (spec['checkpoint'], spec['image']):
            if not osp.isfile(path):
                raise SystemExit(
                    f'{path} not found: run tools/run_demo.sh and '
                    'tools/run_seg_demo.sh first (they train the classifier '
                    'too)')
        options = extended_val_set(key, args.val_scale) if key != \
            'classifier' and args.val_scale > 1 else {}
        results = {'PyTorch': pytorch_metrics(
            spec, osp.join(WORK, key, 'pytorch'), options)}
        images = {crop: agreement_images(model_config(spec, options),
                                         args.agreement_images, crop)
                  for crop in (True, False)}
        agree = {}
        for runtime in args.runtimes:
            # ExecuTorch programs are static-shape, the others dynamic
            deploy_cfg = Config.fromfile(spec['deploy'].format(
                runtime=runtime if runtime.startswith('executorch') else
                f'{runtime}_dynamic'))
            work = osp.join(WORK, key, runtime)
            if args.quantization:
                deploy_cfg.merge_from_dict({f'quantization.{k}': v for k, v
                                            in args.quantization.items()})
                work = osp.join(WORK, key, 'variant', runtime)
            files = pipeline.export(deploy_cfg, model_config(spec, options),
                                    spec['checkpoint'], spec['image'], work,
                                    calib_images=args.calib if 'int8' in
                                    runtime else None)
            results[runtime] = pipeline.evaluate(
                deploy_cfg, model_config(spec, options), files,
                osp.join(work, 'test'))
            # ExecuTorch's programs are for the test set's sizes only
            crop = not runtime.startswith('executorch')
            if images[crop]:
                agree[runtime] = agreement(pipeline.predict_both(
                    deploy_cfg, model_config(spec, options),
                    spec['checkpoint'], files, images[crop]))
                agree[runtime]['cropped'] = crop
                print(f'{runtime}: agreement with PyTorch on '
                      f'{len(images[crop])} images'
                      f'{" cropped" if crop else ""}: {agree[runtime]}',
                      flush=True)
        for metric in spec['metrics']:
            ref = results['PyTorch'][metric] * spec['scale']
            cells = [f'{ref:.2f}']
            for runtime in args.runtimes:
                value = results[runtime][metric] * spec['scale']
                cells.append(f'{value:.2f} ({value - ref:+.2f})')
            print(f"| {spec['name']} | {metric} | " + ' | '.join(cells) +
                  ' |', flush=True)
        if args.record:
            record(key, spec, args, results, agree, len(images[True]))


def record(key, spec, args, results, agree, num_images):
    from swiftformer_mm.analysis import records
    identity = dict(model=key, checkpoint=spec['checkpoint'],
                    val_scale=args.val_scale if key != 'classifier' else 1,
                    calib=args.calib)
    figures = {runtime: {m: round(float(r[m]) * spec['scale'], 3)
                         for m in spec['metrics']}
               for runtime, r in results.items()}
    variant = ', '.join(f'{k}={v}' for k, v in args.quantization.items())
    if variant:  # one record per runtime, as the table of INT8 choices has
        for runtime, metrics in figures.items():
            records.append('accuracy', dict(
                identity, runtime=runtime, variant=variant if runtime !=
                'PyTorch' else 'nothing (fp32)'), metrics)
    else:
        records.append('accuracy', identity, figures)
    if agree:
        records.append('agreement', dict(
            identity, images=num_images, variant=variant or None), agree)

if __name__ == '__main__':
    main()
