# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Train a detector or segmentor (mmdet 3.x / mmseg 1.x style).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--auto-scale-lr] [--cfg-options k=v ...] [--launcher pytorch]

The task (mmdet or mmseg) comes from the config's ``default_scope``;
swiftformer_mm is imported here so its types resolve without
``custom_imports``. Exact ``--resume`` (random generator states in the
checkpoints) is the config's ``ExactResumeHook``, which every shipped
training config names; this script adds no hooks of its own.
"""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import swiftformer_mm  # noqa: F401  registers SwiftFormer
from swiftformer_mm.engine import (apply_amp, check_image_folders,
                                  check_num_classes, check_pretrained_files,
                                  check_trainable_head,
                                  find_resumable_checkpoint,
                                  setup_distributed, setup_task)


def parse_args():
    parser = argparse.ArgumentParser(description='Train a detector/segmentor/classifier')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--amp', action='store_true',
        help='automatic mixed precision: fp16 on CUDA, bf16 on CPU')
    parser.add_argument(
        '--auto-scale-lr', action='store_true',
        help='scale the lr by (GPUs x images per GPU) / auto_scale_lr.'
        'base_batch_size')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from this checkpoint; without a path, from the latest '
        'checkpoint in the work dir')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, key=value (a.b=1, lists as a=[1,2])')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none', help='job launcher')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK.
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
    check_pretrained_files(cfg)
    if task == 'mmpretrain':
        check_trainable_head(cfg)
        check_image_folders(cfg, splits=('train_dataloader', 'val_dataloader'))
    setup_distributed(cfg, args.launcher)

    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])

    if args.amp:
        apply_amp(cfg)

    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in \
                cfg.auto_scale_lr:
            raise RuntimeError(
                '--auto-scale-lr needs auto_scale_lr=dict(base_batch_size=N) '
                'in the config: the total batch size its lr was tuned for.')
        cfg.auto_scale_lr.enable = True

    if args.resume == 'auto':
        # Not mmengine's own auto-resume, which trusts work_dir/last_checkpoint
        # (written with a plain open()): the newest checkpoint that loads.
        cfg.resume = True
        cfg.load_from = find_resumable_checkpoint(cfg.work_dir)
        if cfg.load_from is None:
            cfg.resume = False
            print(f'--resume: no checkpoint in {cfg.work_dir}; training '
                  'from the start')
    elif args.resume is not None:
        if '://' not in args.resume and not osp.isfile(args.resume):
            raise FileNotFoundError(
                f'--resume {args.resume}: no such checkpoint file. Give the '
                'path of a .pth in the work dir, or --resume without a path '
                'to pick the newest loadable checkpoint there.')
        cfg.resume = True
        cfg.load_from = args.resume

    if cfg.get('resume') and not _names_exact_resume(cfg):
        # Not added here: the config decides how training runs, the same
        # under mim and mmdet's/mmseg's own tools (a second copy would also
        # replay the skipped batches twice).
        print('--resume: the config names no ExactResumeHook; the resumed '
              'run continues with freshly seeded random generators, not '
              "exactly. Add custom_hooks = [dict(type='ExactResumeHook')] "
              "(and 'swiftformer_mm.engine' to custom_imports) to the "
              'config, as the shipped ones do.')

    runner = (Runner.from_cfg(cfg) if 'runner_type' not in cfg else
              RUNNERS.build(cfg))
    runner.train()


def _names_exact_resume(cfg) -> bool:
    """Whether ``cfg.custom_hooks`` has an ``ExactResumeHook``."""
    for hook in cfg.get('custom_hooks') or []:
        kind = hook.get('type') if isinstance(hook, dict) else type(hook)
        name = kind if isinstance(kind, str) else getattr(kind, '__name__', '')
        if name.split('.')[-1] == 'ExactResumeHook':
            return True
    return False


if __name__ == '__main__':
    main()
