# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Evaluate a checkpoint (mmdet 3.x / mmseg 1.x / mmpretrain 1.x style).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out OUT]
        [--show-dir DIR] [--tta] [--cfg-options k=v ...] [--launcher pytorch]

``--out`` writes what each library's own ``tools/test.py`` writes: for
mmdet, a ``.pkl`` of ``DumpDetResults`` (RLE masks; what mmdet's offline
tools, e.g. ``analysis_tools/confusion_matrix.py``, read); for mmseg, a
folder with one PNG label map per image; for mmpretrain, a ``.pkl`` of the
predictions.
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
                                  setup_task)
from swiftformer_mm.models import load_checkpoint


def parse_args():
    parser = argparse.ArgumentParser(description='Test a detector/segmentor/classifier')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save the metrics')
    parser.add_argument(
        '--out', help='mmdet/mmpretrain: a .pkl file of the predictions '
        '(mmdet: DumpDetResults, masks RLE-encoded); mmseg: a folder for one '
        'PNG label map per image')
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
        check_image_folders(cfg, splits=('test_dataloader', ))
    if args.out is not None and task != 'mmseg' and not args.out.endswith(
            ('.pkl', '.pickle')):
        raise ValueError(f'--out {args.out}: for {task} it is a .pkl or '
                         '.pickle file (for mmseg, a folder)')

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
    if task != 'mmpretrain':
        cfg.load_from = args.checkpoint
    if args.out is not None and task == 'mmseg':
        cfg.test_evaluator['output_dir'] = args.out  # as mmseg's test.py
        cfg.test_evaluator['keep_results'] = True

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
        # ImageNet weights come in every published format (authors', timm,
        # Hugging Face, mmpretrain); mmengine's load_from reads OpenMMLab
        # files only and skips, with a warning, whatever it does not know.
        # The loading path of the classifier's init_weights reads them all,
        # or refuses with the reason.
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        load_checkpoint(model, args.checkpoint)
    if args.out is not None and task != 'mmseg':
        if task == 'mmdet':
            from mmdet.evaluation import DumpDetResults as Dump
        else:
            from mmengine.evaluator import DumpResults as Dump
        runner.test_evaluator.metrics.append(Dump(out_file_path=args.out))
    runner.test()


if __name__ == '__main__':
    main()
