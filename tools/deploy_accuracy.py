# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""The deployed demo models against PyTorch on the demo validation sets:
COCO box/mask AP of the Mask R-CNN and mIoU of the Semantic FPN, side by
side, for ONNX Runtime and OpenVINO.

    bash tools/run_demo.sh && bash tools/run_seg_demo.sh   # the checkpoints
    python tools/deploy_accuracy.py [--backends onnxruntime openvino]

Each model is exported with tools/deploy.py's steps into
work_dirs/deploy_accuracy/ and evaluated with tools/deploy_test.py's; PyTorch
is evaluated as tools/test.py does.
"""
import argparse
import os.path as osp

from mmengine.config import Config
from mmengine.runner import Runner

import swiftformer_mm  # noqa: F401
from swiftformer_mm.export import pipeline

WORK = 'work_dirs/deploy_accuracy'
MODELS = {
    'Mask R-CNN XS (demo)': dict(
        config='configs/detection/mask_rcnn_swiftformer_xs_demo.py',
        checkpoint='work_dirs/mask_rcnn_swiftformer_xs_demo/epoch_3.pth',
        image='data/demo_coco/val/000000.png',
        deploy='configs/deploy/instance-seg_{backend}_dynamic.py',
        metrics=('coco/bbox_mAP', 'coco/segm_mAP'), scale=100),
    'Semantic FPN XS (demo)': dict(
        config='configs/segmentation/semantic_fpn_swiftformer_xs_demo.py',
        checkpoint='work_dirs/semantic_fpn_swiftformer_xs_demo/iter_160.pth',
        image='data/ade_demo/images/validation/ADE_val_00000001.jpg',
        deploy='configs/deploy/segmentation_{backend}_dynamic.py',
        metrics=('mIoU', ), scale=1,
        options={f'{split}.dataset.data_root': 'data/ade_demo' for split in
                 ('val_dataloader', 'test_dataloader')}),
}


def pytorch_metrics(spec, work_dir):
    cfg = Config.fromfile(spec['config'])
    cfg.merge_from_dict(spec.get('options', {}))
    cfg.work_dir = work_dir
    cfg.load_from = spec['checkpoint']
    return Runner.from_cfg(cfg).test()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--backends', nargs='+',
                        default=['onnxruntime', 'openvino'])
    args = parser.parse_args()
    rows = []
    for name, spec in MODELS.items():
        for path in (spec['checkpoint'], spec['image']):
            if not osp.isfile(path):
                raise SystemExit(f'{path} not found: run tools/run_demo.sh '
                                 'and tools/run_seg_demo.sh first')
        key = name.split(' (')[0].replace(' ', '_').lower()
        results = {'PyTorch': pytorch_metrics(
            spec, osp.join(WORK, key, 'pytorch'))}
        for backend in args.backends:
            deploy_cfg = spec['deploy'].format(backend=backend)
            model_cfg = Config.fromfile(spec['config'])
            model_cfg.merge_from_dict(spec.get('options', {}))
            files = pipeline.export(deploy_cfg, model_cfg, spec['checkpoint'],
                                    spec['image'],
                                    osp.join(WORK, key, backend))
            results[backend] = pipeline.evaluate(
                deploy_cfg, model_cfg, files,
                osp.join(WORK, key, backend, 'test'))
        for metric in spec['metrics']:
            ref = results['PyTorch'][metric] * spec['scale']
            cells = [f'{ref:.2f}']
            for backend in args.backends:
                value = results[backend][metric] * spec['scale']
                cells.append(f'{value:.2f} ({value - ref:+.2f})')
            rows.append(f'| {name} | {metric} | ' + ' | '.join(cells) + ' |')
    print('\n| model | metric | PyTorch | ' +
          ' | '.join(f'{b} (diff)' for b in args.backends) + ' |')
    print('|---|---|---|' + '---|' * len(args.backends))
    print('\n'.join(rows))


if __name__ == '__main__':
    main()
