# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Evaluate a checkpoint (mmdet 3.x / mmseg 1.x style).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE]
        [--show-dir DIR] [--tta] [--cfg-options k=v ...] [--launcher pytorch]
"""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.model import is_model_wrapper
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import swiftformer_mm  # noqa: F401  registers SwiftFormer
from swiftformer_mm.engine import (check_image_folders, check_num_classes,
                                  drop_backbone_pretrained, setup_task)


def parse_args():
    parser = argparse.ArgumentParser(description='Test a detector/segmentor/classifier')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save the metrics')
    parser.add_argument(
        '--out', help='dump predictions to a pickle file (detection) for '
        'offline evaluation')
    parser.add_argument(
        '--show-dir', help='save pictures of the predictions in '
        'WORK_DIR/TIMESTAMP/SHOW_DIR')
    parser.add_argument('--tta', action='store_true',
                        help='test-time augmentation (config must define it)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, key=value')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    task = setup_task(cfg)
    check_num_classes(cfg, task)
    if task == 'mmpretrain':
        check_image_folders(cfg)

    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if '://' not in args.checkpoint and not osp.isfile(args.checkpoint):
        raise FileNotFoundError(
            f'checkpoint not found: {args.checkpoint!r} (resolved from '
            f'{osp.abspath(".")}); give the .pth written by tools/train.py, '
            'e.g. WORK_DIR/epoch_12.pth')
    drop_backbone_pretrained(cfg)  # the checkpoint holds every weight
    if task != 'mmpretrain':
        cfg.load_from = args.checkpoint

    if args.show_dir:
        hook = cfg.default_hooks.get('visualization')
        if hook is None:
            raise RuntimeError('--show-dir needs a `visualization` hook in '
                               'default_hooks')
        hook.draw = True
        if task == 'mmdet':
            hook.test_out_dir = args.show_dir
        else:
            hook.interval = 1
            cfg.visualizer.save_dir = osp.join(cfg.work_dir, args.show_dir)

    if args.tta:
        if 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
            raise RuntimeError('--tta needs tta_model and tta_pipeline in '
                               'the config')
        cfg.model = dict(**cfg.tta_model, module=cfg.model)
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline

    runner = (Runner.from_cfg(cfg) if 'runner_type' not in cfg else
              RUNNERS.build(cfg))
    if task == 'mmpretrain':
        # Any published classification checkpoint (authors', timm, HF,
        # mmpretrain) is loaded completely or refused with the reason;
        # mmengine's load_from reads OpenMMLab files only and skips, with a
        # warning, whatever it does not know.
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        if not hasattr(model, 'load_classifier'):
            raise TypeError(
                f'{type(model).__name__} cannot read SwiftFormer checkpoints '
                "of every format; use model type 'SwiftFormerClassifier' "
                '(configs/classification/)')
        model.load_classifier(args.checkpoint)
    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError('--out must be a .pkl or .pickle file')
        from mmengine.evaluator import DumpResults
        runner.test_evaluator.metrics.append(
            DumpResults(out_file_path=args.out))
    runner.test()


if __name__ == '__main__':
    main()
