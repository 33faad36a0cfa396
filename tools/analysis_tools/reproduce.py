# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Reproduce the paper's detection and segmentation results (Table 3) and
compare a reproduction with them.

    # train and test the paper configs, one after the other, 8 GPUs each
    python tools/analysis_tools/reproduce.py launch --tasks det seg \
        --archs l1 l3 --launcher dist --gpus 8 [--work-root work_dirs/reproduce]
    # under Slurm (GPUS, GPUS_PER_NODE, CPUS_PER_TASK as for slurm_train.sh)
    python tools/analysis_tools/reproduce.py launch --launcher slurm \
        --partition PARTITION --archs l1
    # print the commands instead of running them
    python tools/analysis_tools/reproduce.py launch --archs l1 --dry-run
    # the table: paper vs this reproduction, params, GFLOPs, config, commit,
    # log, checkpoint; Markdown on stdout, also written to OUT.md and OUT.csv
    python tools/analysis_tools/reproduce.py gather [--out work_dirs/reproduce/table]

``--configs`` runs other configs than the paper's (e.g. the demo configs);
``--cfg-options`` is passed to every training and test.
"""
import argparse
import os.path as osp

from swiftformer_mm.analysis import reproduce
from swiftformer_mm.checkpoint import atomic_write


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    run = sub.add_parser('launch', help='train and test the configs')
    run.add_argument('--tasks', nargs='+', choices=['det', 'seg'],
                     default=['det', 'seg'])
    run.add_argument('--archs', nargs='+', default=['l1', 'l3'],
                     choices=['xs', 's', 'l1', 'l3'])
    run.add_argument('--configs', nargs='+',
                     help='these configs instead of the paper\'s')
    run.add_argument('--launcher', choices=['dist', 'slurm', 'none'],
                     default='dist')
    run.add_argument('--gpus', type=int, default=8,
                     help='dist: GPUs on this node')
    run.add_argument('--partition', help='slurm: the partition')
    run.add_argument('--work-root', default='work_dirs/reproduce')
    run.add_argument('--cfg-options', nargs='+', default=[],
                     help='key=value, passed to every train and test')
    run.add_argument('--dry-run', action='store_true',
                     help='print the commands, run nothing')
    table = sub.add_parser('gather', help='the table of the runs')
    table.add_argument('--work-root', default='work_dirs/reproduce')
    table.add_argument('--out', help='write OUT.md and OUT.csv (default '
                       'WORK_ROOT/table)')
    args = parser.parse_args()
    if args.command == 'launch':
        configs = args.configs or reproduce.paper_configs(args.tasks,
                                                          args.archs)
        reproduce.launch(configs, args.work_root, args.launcher, args.gpus,
                         args.partition, args.cfg_options, args.dry_run)
        return
    rows = reproduce.gather(args.work_root)
    out = args.out or osp.join(args.work_root, 'table')
    markdown = reproduce.as_markdown(rows)
    atomic_write(markdown.encode(), out + '.md')
    atomic_write(reproduce.as_csv(rows).encode(), out + '.csv')
    print(markdown)
    print(f'written: {out}.md, {out}.csv')


if __name__ == '__main__':
    main()
