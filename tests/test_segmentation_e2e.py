"""Segmentation end to end with the real tools, on generated ADE20K data.

``tools/train.py`` trains a few iterations, ``tools/test.py`` reports mIoU
on the checkpoint, ``--resume`` continues from it, and an unmodified mmseg
config with only ``custom_imports`` and the backbone replaced trains a step.
Each tool runs in its own process, as a user runs it.
"""
import os.path as osp
import re

import pytest

from conftest import run
from swiftformer_mm.demo_data.ade import DEMO_CLASSES, generate

# Whole exports, trainings or tool runs: out of the fast lane.
pytestmark = pytest.mark.slow

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO_CONFIG = osp.join(ROOT, 'configs', 'segmentation',
                       'semantic_fpn_swiftformer_xs_demo.py')


@pytest.fixture(scope='module')
def ade_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('ade_demo')
    generate(str(root), num_train=4, num_val=2)
    return str(root)


# One intra-op thread: these runs are small, and on the shared 2-core
# machines a second thread mostly adds contention.
ENV = dict(OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore')


def data_options(root, repeated=True):
    train = ('train_dataloader.dataset.dataset' if repeated else
             'train_dataloader.dataset')
    return [
        'model.backbone.init_cfg=None',  # the demo's classifier is not here
        f'{train}.data_root={root}',
        f'val_dataloader.dataset.data_root={root}',
        f'test_dataloader.dataset.data_root={root}'
    ]


def last_miou(log: str) -> float:
    values = re.findall(r'mIoU: (\d+\.\d+)', log)
    assert values, f'no mIoU in the output:\n{log[-3000:]}'
    return float(values[-1])


def test_train_test_resume(tmp_path, ade_root):
    work = str(tmp_path / 'work')
    options = data_options(ade_root) + [
        'train_dataloader.batch_size=2', 'train_cfg.val_interval=2',
        'default_hooks.checkpoint.interval=1',
        'default_hooks.logger.interval=1'
    ]
    log = run('train.py', DEMO_CONFIG, '--work-dir', work, '--cfg-options',
              'train_cfg.max_iters=2', *options, env=ENV, timeout=300).log
    assert 'Iter(train) [2/2]' in log and 'decode.loss_ce' in log
    assert osp.isfile(osp.join(work, 'iter_2.pth'))
    assert 0. <= last_miou(log) <= 100.  # validation at the end of training

    log = run('test.py', DEMO_CONFIG, osp.join(work, 'iter_2.pth'),
              '--work-dir', str(tmp_path / 'test'), '--cfg-options',
              *data_options(ade_root), env=ENV, timeout=300).log
    miou = last_miou(log)
    assert 0. <= miou <= 100.
    # the per-class table names the demo classes from the dataset metainfo
    for name in DEMO_CLASSES:
        assert re.search(rf'\|\s+{name}\s+\|', log), name

    # --resume continues at iteration 3 from the latest checkpoint
    log = run('train.py', DEMO_CONFIG, '--work-dir', work, '--resume',
              '--cfg-options', 'train_cfg.max_iters=3', *options, env=ENV,
              timeout=300).log
    assert re.search(r'Load checkpoint from .*iter_2\.pth', log), log[-3000:]
    assert 'resumed epoch: 0, iter: 2' in log
    assert 'Iter(train) [3/3]' in log
    assert not re.search(r'Iter\(train\) \[\s*1/3\]', log)
    assert osp.isfile(osp.join(work, 'iter_3.pth'))


def test_unmodified_mmseg_config_trains_a_step(tmp_path, ade_root):
    """mmseg's own Semantic FPN ADE20K config, as a user of mmseg would
    write it: only custom_imports and the backbone (with the ResNet
    ``pretrained`` the backbone refuses) changed; data paths on the command
    line. The generated data carries ADE's label values, so the 150-class
    config reads it unchanged."""
    config = tmp_path / 'fpn_swiftformer_xs_ade20k.py'
    config.write_text("""
_base_ = 'mmseg::sem_fpn/fpn_r50_4xb4-160k_ade20k-512x512.py'
custom_imports = dict(imports=['swiftformer_mm'], allow_failed_imports=False)
model = dict(
    pretrained=None,
    backbone=dict(_delete_=True, type='SwiftFormer', arch='xs'),
    neck=dict(in_channels=[48, 56, 112, 220]))
""")
    work = str(tmp_path / 'work')
    loader = ['{}.num_workers=0', '{}.persistent_workers=False']
    log = run(
        'train.py', str(config), '--work-dir', work, '--cfg-options',
        *data_options(ade_root, repeated=False), 'train_cfg.max_iters=1',
        'train_dataloader.batch_size=2', 'default_hooks.logger.interval=1',
        *[o.format('train_dataloader') for o in loader],
        *[o.format('val_dataloader') for o in loader],
        env=ENV, timeout=300).log
    match = re.search(r'Iter\(train\) \[1/1\].*decode\.loss_ce: (\d+\.\d+)',
                      log)
    assert match and float(match.group(1)) > 0, log[-3000:]
    assert osp.isfile(osp.join(work, 'iter_1.pth'))
    with open(osp.join(work, 'last_checkpoint')) as f:
        assert f.read().strip().endswith('iter_1.pth')
    # the model that ran is SwiftFormer inside mmseg's unchanged recipe
    dumped = open(osp.join(work, config.name)).read()
    assert "type='SwiftFormer'" in dumped and 'num_classes=150' in dumped
    assert "type='SGD'" in dumped
