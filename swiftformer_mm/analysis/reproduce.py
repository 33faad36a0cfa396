# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Reproducing the paper's downstream results (Table 3) on a cluster, and
the table that compares a reproduction with it
(``tools/analysis_tools/reproduce.py``).

``launch`` trains and tests each config with the project's own launchers
(``tools/dist_train.sh`` / ``dist_test.sh`` on one node, ``slurm_train.sh``
/ ``slurm_test.sh`` under Slurm, or ``tools/train.py`` / ``test.py`` in one
process), each run in ``WORK_ROOT/<config name>`` with a ``reproduce.json``
that records the config, the commit, the commands and the times. ``gather``
reads those folders back, as mmdet's model-zoo tooling does: the test
metrics, the parameters and GFLOPs of the model at its input size, and the
config, commit, log and checkpoint of each run, beside the paper's figures,
as Markdown and CSV.
"""
import csv
import glob
import io
import json
import os
import os.path as osp
import shlex
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

from ..configs import mim_dir
from ..version import __version__

#: Table 3 of the paper (Mask R-CNN 1x on COCO val2017; Semantic FPN 40k on
#: ADE20K val), per backbone arch.
PAPER = {
    ('mmdet', 'l1'): {'bbox_mAP': 41.2, 'bbox_mAP_50': 63.2,
                      'bbox_mAP_75': 44.8, 'segm_mAP': 38.1,
                      'segm_mAP_50': 60.2, 'segm_mAP_75': 40.7},
    ('mmdet', 'l3'): {'bbox_mAP': 42.7, 'bbox_mAP_50': 64.4,
                      'bbox_mAP_75': 46.7, 'segm_mAP': 39.1,
                      'segm_mAP_50': 61.7, 'segm_mAP_75': 41.8},
    ('mmseg', 'l1'): {'mIoU': 41.4},
    ('mmseg', 'l3'): {'mIoU': 43.9},
}
#: relative to :func:`swiftformer_mm.configs.mim_dir` (the clone's root, or
#: the installed package's ``.mim/``, which holds the configs and tools too)
PAPER_CONFIGS = {
    'det': 'configs/detection/mask_rcnn_swiftformer_{arch}.py',
    'seg': 'configs/segmentation/semantic_fpn_swiftformer_{arch}.py',
}
#: metric columns: (name in the table, key in mmengine's test output, scale)
METRICS = {
    'mmdet': [('box AP', 'coco/bbox_mAP', 100),
              ('box AP50', 'coco/bbox_mAP_50', 100),
              ('mask AP', 'coco/segm_mAP', 100),
              ('mask AP50', 'coco/segm_mAP_50', 100)],
    'mmseg': [('mIoU', 'mIoU', 1)],
}


def paper_configs(tasks: Sequence[str], archs: Sequence[str]) -> List[str]:
    return [osp.join(mim_dir(), PAPER_CONFIGS[t].format(arch=a))
            for t in tasks for a in archs]


def commit() -> str:
    """The clone's commit, or the installed package's version."""
    try:
        return subprocess.check_output(
            ['git', 'rev-parse', '--short', 'HEAD'], cwd=mim_dir(),
            stderr=subprocess.DEVNULL, text=True).strip()
    except (OSError, subprocess.CalledProcessError):
        return f'swiftformer_mm {__version__}'


def commands(config: str, work_dir: str, launcher: str, gpus: int,
             partition: Optional[str], options: Sequence[str]):
    """The train command and a function of the checkpoint giving the test
    command, for one config."""
    opts = ['--cfg-options', *options] if options else []
    tools = osp.join(mim_dir(), 'tools')
    name = osp.splitext(osp.basename(config))[0]
    if launcher == 'dist':
        train = ['bash', f'{tools}/dist_train.sh', config, str(gpus),
                 '--work-dir', work_dir, *opts]

        def test(ckpt):
            return ['bash', f'{tools}/dist_test.sh', config, ckpt, str(gpus),
                    '--work-dir', osp.join(work_dir, 'test'), *opts]
    elif launcher == 'slurm':
        if not partition:
            raise ValueError('--launcher slurm needs --partition')
        train = ['bash', f'{tools}/slurm_train.sh', partition, name, config,
                 work_dir, *opts]

        def test(ckpt):
            return ['bash', f'{tools}/slurm_test.sh', partition, name, config,
                    ckpt, '--work-dir', osp.join(work_dir, 'test'), *opts]
    else:
        train = [sys.executable, f'{tools}/train.py', config, '--work-dir',
                 work_dir, *opts]

        def test(ckpt):
            return [sys.executable, f'{tools}/test.py', config, ckpt,
                    '--work-dir', osp.join(work_dir, 'test'), *opts]
    return train, test


def launch(configs: Sequence[str], work_root: str, launcher: str = 'dist',
           gpus: int = 8, partition: Optional[str] = None,
           options: Sequence[str] = (), dry_run: bool = False) -> List[str]:
    """Train, then test, each config in turn; return the work dirs."""
    work_dirs = []
    for config in configs:
        if not osp.isfile(config):
            raise FileNotFoundError(f'config not found: {config!r}')
        name = osp.splitext(osp.basename(config))[0]
        work_dir = osp.abspath(osp.join(work_root, name))
        train, test = commands(osp.abspath(config), work_dir, launcher, gpus,
                               partition, options)
        if dry_run:
            print(shlex.join(train))
            print(shlex.join(test(osp.join(work_dir, '<last checkpoint>'))))
            continue
        os.makedirs(work_dir, exist_ok=True)
        record = dict(config=osp.relpath(osp.abspath(config), mim_dir()),
                      commit=commit(), launcher=launcher,
                      train_command=shlex.join(train),
                      started=time.strftime('%Y-%m-%d %H:%M:%S'))
        _write_json(osp.join(work_dir, 'reproduce.json'), record)
        print(f'[reproduce] {name}: training ({record["train_command"]})',
              flush=True)
        subprocess.run(train, check=True)
        with open(osp.join(work_dir, 'last_checkpoint')) as f:
            checkpoint = f.read().strip()
        record.update(checkpoint=checkpoint,
                      test_command=shlex.join(test(checkpoint)))
        print(f'[reproduce] {name}: testing {checkpoint}', flush=True)
        subprocess.run(test(checkpoint), check=True)
        record['finished'] = time.strftime('%Y-%m-%d %H:%M:%S')
        _write_json(osp.join(work_dir, 'reproduce.json'), record)
        work_dirs.append(work_dir)
    return work_dirs


def _write_json(path: str, data: dict) -> None:
    from ..checkpoint import atomic_write
    atomic_write((json.dumps(data, indent=1) + '\n').encode(), path)


def _latest(pattern: str) -> Optional[str]:
    found = sorted(glob.glob(pattern))
    return found[-1] if found else None


def _input_shape(cfg) -> tuple:
    """(H, W) the model sees at test time: the test resize scale, padded to
    the data preprocessor's size divisor (detection), or the crop size."""
    size = cfg.model.get('data_preprocessor', {}).get('size')
    if cfg.default_scope == 'mmseg' and size:
        return tuple(size)
    for step in cfg.test_dataloader.dataset.pipeline:
        if step.get('type') == 'Resize' and step.get('scale'):
            w, h = step['scale']
            if w > h and cfg.default_scope == 'mmseg':
                w = h  # ADE: short side h, a square crop's worth
            div = cfg.model.get('data_preprocessor', {}).get(
                'pad_size_divisor', 1) or 1
            return (-(-h // div) * div, -(-w // div) * div)
    return (512, 512)


def gather_run(work_dir: str) -> Dict[str, object]:
    """One row: the run's metrics and what produced them."""
    from mmengine.config import Config

    from .flops import config_figures
    with open(osp.join(work_dir, 'reproduce.json')) as f:
        record = json.load(f)
    config = osp.join(mim_dir(), record['config'])
    cfg = Config.fromfile(config)
    task = cfg.default_scope
    arch = str(cfg.model.backbone.get('arch', '?')).lower()
    result = _latest(osp.join(work_dir, 'test', '*', '*.json'))
    metrics = {}
    if result:
        with open(result) as f:
            metrics = json.load(f)
    shape = _input_shape(cfg)
    figures = config_figures(config, shape, cfg_options={
        'model.backbone.init_cfg': None}).get('whole model (tensor mode)', {})
    row = dict(config=record['config'], arch=arch, task=task,
               input=f'{shape[0]}x{shape[1]}')
    paper = PAPER.get((task, arch), {})
    for column, key, scale in METRICS.get(task, []):
        short = key.split('/')[-1]
        row[f'{column} (paper)'] = paper.get(short, '')
        row[column] = round(metrics[key] * scale, 1 if scale == 100 else 2) \
            if key in metrics else ''
    row['params (M)'] = round(figures['params'] / 1e6, 2) if figures else ''
    row['GFLOPs'] = round(figures['gmacs'], 1) if figures else ''
    log = _latest(osp.join(work_dir, '*', '*.log'))
    row.update(commit=record.get('commit', ''),
               log=osp.relpath(log, work_dir) if log else '',
               checkpoint=record.get('checkpoint', ''))
    return row


def gather(work_root: str) -> List[Dict[str, object]]:
    runs = sorted(osp.dirname(p) for p in glob.glob(
        osp.join(work_root, '*', 'reproduce.json')))
    if not runs:
        raise FileNotFoundError(
            f'no run of tools/analysis_tools/reproduce.py launch in '
            f'{work_root!r} (each has a reproduce.json)')
    return [gather_run(run) for run in runs]


def as_markdown(rows: List[Dict[str, object]]) -> str:
    """One Markdown table per task (their columns differ)."""
    out = []
    for task, title in (('mmdet', 'Mask R-CNN, COCO'),
                        ('mmseg', 'Semantic FPN, ADE20K')):
        these = [r for r in rows if r['task'] == task]
        if not these:
            continue
        keys = [k for k in these[0] if k != 'task']
        out.append(f'### {title} (paper: Table 3)\n')
        out.append('| ' + ' | '.join(keys) + ' |')
        out.append('|' + '---|' * len(keys))
        for r in these:
            out.append('| ' + ' | '.join(str(r[k]) for k in keys) + ' |')
        out.append('')
    return '\n'.join(out)


def as_csv(rows: List[Dict[str, object]]) -> str:
    keys = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys)
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()
