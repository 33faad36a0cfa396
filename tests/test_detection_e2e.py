"""The detection tools end to end, as a user runs them (subprocesses):
tools/train.py on generated data writes a checkpoint, tools/test.py reports
COCO box and mask AP for it, --resume continues from it, a missing ImageNet
file stops training before any data is read, and an unmodified mmdet config
with only the backbone swapped trains."""
import os.path as osp
import re

import pytest
import torch

from conftest import run
from swiftformer_mm.demo_data.coco import CLASSES, generate

# Whole exports, trainings or tool runs: out of the fast lane.
pytestmark = pytest.mark.slow

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO = osp.join(ROOT, 'configs', 'detection', 'mask_rcnn_swiftformer_xs_demo.py')
SIZE = 128  # generated images; the pipelines are resized to match
NUM_TRAIN, NUM_VAL, BATCH = 4, 2, 2


ENV = dict(OMP_NUM_THREADS='2', PYTHONWARNINGS='ignore')


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('demo_coco'))
    generate(root, NUM_TRAIN, NUM_VAL, (SIZE, SIZE), min_radius=16,
             max_radius=40)
    return root + '/'


def data_options(root):
    """--cfg-options pointing the demo config at `root`, at SIZE px."""
    scale = f'({SIZE},{SIZE})'
    return [
        'model.backbone.init_cfg=None',  # the demo's classifier is not here
        f'train_dataloader.dataset.data_root={root}',
        f'test_dataloader.dataset.data_root={root}',
        f'test_evaluator.ann_file={root}annotations/instances_val.json',
        f'train_dataloader.dataset.pipeline.2.scale={scale}',
        f'test_dataloader.dataset.pipeline.1.scale={scale}',
        f'train_dataloader.batch_size={BATCH}',
        'default_hooks.checkpoint.interval=1',
        'default_hooks.logger.interval=1',
    ]


def coco_metrics(log: str) -> dict:
    found = dict(re.findall(r'coco/((?:bbox|segm)_mAP(?:_50)?): ([\d.]+)',
                            log))
    return {k: float(v) for k, v in found.items()}


def checkpoint_progress(path):
    # swiftformer_mm allow-lists the classes of Runner checkpoints
    # (torch.load's weights_only safety stays on).
    import swiftformer_mm  # noqa: F401
    ckpt = torch.load(path, map_location='cpu')
    return ckpt['meta']['epoch'], ckpt['meta']['iter']


@pytest.fixture(scope='module')
def trained(tmp_path_factory, data_root):
    work_dir = str(tmp_path_factory.mktemp('work'))
    log = run('train.py', DEMO, '--work-dir', work_dir, '--cfg-options',
              'train_cfg.max_epochs=1', *data_options(data_root),
              env=ENV).log
    return work_dir, log


def test_train_writes_checkpoint(trained):
    work_dir, log = trained
    iters = NUM_TRAIN // BATCH
    assert f'Epoch(train) [1][{iters}/{iters}]' in log
    ckpt = osp.join(work_dir, 'epoch_1.pth')
    assert osp.isfile(ckpt)
    assert checkpoint_progress(ckpt) == (1, iters)
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        assert f.read().strip() == ckpt


def test_test_reports_coco_box_and_mask_ap(trained, data_root):
    work_dir, _ = trained
    log = run('test.py', DEMO, osp.join(work_dir, 'epoch_1.pth'),
              '--work-dir', osp.join(work_dir, 'test'),
              '--cfg-options', *data_options(data_root), env=ENV).log
    metrics = coco_metrics(log)
    assert set(metrics) == {'bbox_mAP', 'bbox_mAP_50', 'segm_mAP',
                            'segm_mAP_50'}, log[-3000:]
    assert all(0. <= v <= 1. for v in metrics.values())
    batches = -(-NUM_VAL // 4)  # the demo config tests 4 images a batch
    assert f'Epoch(test) [{batches}/{batches}]' in log


def test_resume_continues_from_checkpoint(trained, data_root, tmp_path):
    import shutil
    work_dir = str(tmp_path / 'resumed')
    shutil.copytree(trained[0], work_dir)
    # the copy's last_checkpoint points at the original; --resume with an
    # explicit path does not depend on it
    ckpt = osp.join(work_dir, 'epoch_1.pth')
    log = run('train.py', DEMO, '--work-dir', work_dir, '--resume', ckpt,
              '--cfg-options', 'train_cfg.max_epochs=2',
              *data_options(data_root), env=ENV).log
    iters = NUM_TRAIN // BATCH
    assert f'resumed epoch: 1, iter: {iters}' in log
    assert 'Epoch(train) [1]' not in log
    assert f'Epoch(train) [2][{iters}/{iters}]' in log
    assert checkpoint_progress(osp.join(work_dir, 'epoch_2.pth')) == \
        (2, 2 * iters)


def test_missing_pretrained_file_stops_before_data_loading(tmp_path):
    missing = str(tmp_path / 'checkpoints' / 'SwiftFormer_XS.pth')
    no_data = str(tmp_path / 'no_such_dataset') + '/'
    proc = run(
        'train.py',
        osp.join(ROOT, 'configs', 'detection', 'mask_rcnn_swiftformer_xs.py'),
        '--work-dir', str(tmp_path / 'work'), '--cfg-options',
        f'model.backbone.init_cfg.checkpoint={missing}',
        f'train_dataloader.dataset.data_root={no_data}',
        f'val_dataloader.dataset.data_root={no_data}',
        env=ENV, check=False)
    log = proc.log
    assert proc.returncode != 0
    errors = re.findall(r'^(\w+Error): (.*)$', log, re.MULTILINE)
    assert errors, log[-3000:]
    error_type, message = errors[-1]
    assert error_type == 'FileNotFoundError', log[-3000:]
    assert message.startswith('SwiftFormer pretrained checkpoint not found')
    assert missing in message and 'Download the ImageNet weights' in message
    # had the data been read first, the missing annotation file would have
    # been the error; pycocotools announces every annotation file it reads
    assert 'loading annotations into memory' not in log
    assert 'Epoch(train)' not in log


def test_unmodified_mmdet_config_trains_a_step(tmp_path, data_root):
    """A user's config: mmdet's shipped Mask R-CNN with only custom_imports
    and the backbone (and FPN input widths) changed; the command-line options
    only point it at the generated set (and size the heads for its 3
    classes)."""
    config = tmp_path / 'mask-rcnn_swiftformer-xs_fpn_1x_coco.py'
    config.write_text(
        "_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'\n"
        "custom_imports = dict(imports=['swiftformer_mm'], "
        'allow_failed_imports=False)\n'
        'model = dict(\n'
        "    backbone=dict(_delete_=True, type='SwiftFormer', arch='xs'),\n"
        '    neck=dict(in_channels=[48, 56, 112, 220]))\n')
    work_dir = str(tmp_path / 'work')
    classes = '[' + ','.join(CLASSES) + ']'
    log = run(
        'train.py', str(config), '--work-dir', work_dir,
        '--cfg-options', 'train_cfg.max_epochs=1',
        f'train_dataloader.batch_size={NUM_TRAIN}',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        f'train_dataloader.dataset.data_root={data_root}',
        'train_dataloader.dataset.ann_file=annotations/instances_train.json',
        'train_dataloader.dataset.data_prefix.img=train/',
        f'train_dataloader.dataset.metainfo.classes={classes}',
        # tools/train.py refuses heads whose class count is not the data's
        f'model.roi_head.bbox_head.num_classes={len(CLASSES)}',
        f'model.roi_head.mask_head.num_classes={len(CLASSES)}',
        f'train_dataloader.dataset.pipeline.2.scale=({SIZE},{SIZE})',
        'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None',
        'test_cfg=None', 'test_dataloader=None', 'test_evaluator=None',
        'default_hooks.logger.interval=1', env=ENV).log
    assert 'Epoch(train) [1][1/1]' in log, log[-3000:]
    loss = float(re.search(r'Epoch\(train\) \[1\]\[1/1\].* loss: ([\d.]+)',
                           log).group(1))
    assert 0 < loss < float('inf')
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        assert f.read().strip().endswith('epoch_1.pth')
