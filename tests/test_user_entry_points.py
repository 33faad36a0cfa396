"""The shipped configs through mmdet's, mmseg's and mim's own entry points, as
a user who never runs our tools meets them:

* ``DetInferencer`` and ``MMSegInferencer`` on the paper configs, with
  trained weights and no ImageNet file on the machine;
* ``mim train`` / ``mim test`` (mmdet's and mmseg's own ``tools/`` from their
  wheels) on the demo configs, with ``--out`` as those tools write it;
* ``mim run mmdet analyze_logs plot_curve``, ``browse_dataset`` and
  ``confusion_matrix`` on the demo;
* a missing ImageNet file stopping ``mim train`` before the first iteration,
  with the backbone's message.
"""
import os
import os.path as osp
import pickle

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

import swiftformer_mm  # noqa: F401  registers the models
from conftest import (DEMO_CLASSIFIER, MIM, ROOT, run,
                      write_demo_classifier)
from swiftformer_mm.demo_data import ade, coco

# Whole exports, trainings or tool runs: out of the fast lane; the oldest
# stack runs them too.
pytestmark = [pytest.mark.slow, pytest.mark.stacks]

DET_DEMO = osp.join(ROOT, 'configs/detection/mask_rcnn_swiftformer_xs_demo.py')
SEG_DEMO = osp.join(ROOT,
                    'configs/segmentation/semantic_fpn_swiftformer_xs_demo.py')
# The package as installed: the user's own PYTHONPATH (none if unset), not
# the working directory and the repository that conftest.run puts first.
ENV = dict(OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore', MPLBACKEND='Agg',
           CUDA_VISIBLE_DEVICES='', PYTHONPATH=os.environ.get('PYTHONPATH'))


def demo_classifier(cwd):
    """The classification demo's checkpoint (random weights) where the demo
    configs' backbone ``init_cfg`` reads it, relative to ``cwd``."""
    write_demo_classifier(cwd / DEMO_CLASSIFIER)


# ------------------------------------------------------------- detection
@pytest.fixture(scope='module')
def det_run(tmp_path_factory):
    """``mim train mmdet`` on the demo config: one epoch of 8 images."""
    tmp = tmp_path_factory.mktemp('mim_det')
    coco.generate(str(tmp / 'data/demo_coco'), num_train=8, num_val=4)
    demo_classifier(tmp)
    log = run((MIM, 'train', 'mmdet'), DET_DEMO, '--work-dir', 'work',
              '--cfg-options', 'train_cfg.max_epochs=1', cwd=tmp, env=ENV,
              timeout=900).log
    # mmdet's own train.py initialised the backbone from the classifier
    assert 'SwiftFormer: loaded 307/327 tensors from mmpretrain checkpoint ' \
        'checkpoints/swiftformer_xs_demo_cls.pth' in log, log[-3000:]
    return tmp


def test_mim_train_and_test_mmdet(det_run):
    assert osp.isfile(det_run / 'work/epoch_1.pth')
    log = run((MIM, 'test', 'mmdet'), DET_DEMO, '--checkpoint',
              'work/epoch_1.pth', '--work-dir', 'work/test', '--out',
              'preds.pkl', cwd=det_run, env=ENV, timeout=900).log
    assert 'coco/bbox_mAP' in log and 'coco/segm_mAP' in log
    with open(det_run / 'preds.pkl', 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == 4
    masks = preds[0]['pred_instances']['masks']
    assert masks and all(isinstance(m, dict) and 'counts' in m
                         for m in masks)  # RLE, as DumpDetResults writes


def test_our_test_tool_out_is_mmdets(det_run):
    """tools/test.py --out writes the same DumpDetResults format."""
    run('test.py', DET_DEMO, 'work/epoch_1.pth', '--work-dir', 'work/ours',
        '--out', 'ours.pkl', cwd=det_run, env=ENV, timeout=600)
    with open(det_run / 'ours.pkl', 'rb') as f:
        ours = pickle.load(f)
    with open(det_run / 'preds.pkl', 'rb') as f:
        theirs = pickle.load(f)
    assert [p['img_id'] for p in ours] == [p['img_id'] for p in theirs]
    for a, b in zip(ours, theirs):
        assert set(a['pred_instances']) == set(b['pred_instances'])
        assert torch.equal(a['pred_instances']['bboxes'],
                           b['pred_instances']['bboxes'])
        assert a['pred_instances']['masks'] == b['pred_instances']['masks']


def test_mim_run_mmdet_analysis_tools(det_run):
    (log_json, ) = det_run.glob('work/*/vis_data/scalars.json')
    mim_run = (MIM, 'run', 'mmdet')
    run(mim_run, 'analyze_logs', 'plot_curve', str(log_json), '--keys',
        'loss', '--out', 'curve.png', cwd=det_run, env=ENV, timeout=900)
    assert cv2.imread(str(det_run / 'curve.png')) is not None
    run(mim_run, 'confusion_matrix', DET_DEMO, 'preds.pkl', 'cm',
        cwd=det_run, env=ENV, timeout=900)
    assert cv2.imread(str(det_run / 'cm/confusion_matrix.png')) is not None
    run(mim_run, 'browse_dataset', DET_DEMO, '--output-dir', 'browse',
        '--not-show', cwd=det_run, env=ENV, timeout=900)
    assert len(list((det_run / 'browse').glob('*.png'))) == 8


def test_missing_imagenet_file_stops_mim_train_before_training(det_run):
    missing = str(det_run / 'checkpoints/SwiftFormer_XS.pth')
    config = det_run / 'from_imagenet.py'
    config.write_text(
        f'_base_ = {DET_DEMO!r}\n'
        'model = dict(backbone=dict(init_cfg=dict(\n'
        f"    _delete_=True, type='Pretrained', checkpoint={missing!r})))\n")
    proc = run((MIM, 'train', 'mmdet'), str(config), '--work-dir',
               'work_missing', cwd=det_run, env=ENV, check=False, timeout=900)
    log = proc.log
    assert proc.returncode != 0
    assert 'FileNotFoundError: SwiftFormer pretrained checkpoint not found: ' \
        f"'{missing}'" in log, log[-3000:]
    assert 'Download the ImageNet weights' in log
    assert 'Epoch(train)' not in log
    assert not list((det_run / 'work_missing').glob('*.pth'))


# ----------------------------------------------------------- segmentation
def test_mim_train_and_test_mmseg(tmp_path):
    data = tmp_path / 'ade'
    ade.generate(str(data), num_train=4, num_val=3)
    demo_classifier(tmp_path)
    roots = [f'{split}.dataset.data_root={data}' for split in
             ('val_dataloader', 'test_dataloader')]
    run((MIM, 'train', 'mmseg'), SEG_DEMO, '--work-dir', 'work',
        '--cfg-options', 'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
        'default_hooks.checkpoint.interval=2', 'train_dataloader.batch_size=2',
        f'train_dataloader.dataset.dataset.data_root={data}', *roots,
        cwd=tmp_path, env=ENV, timeout=900)
    log = run((MIM, 'test', 'mmseg'), SEG_DEMO, '--checkpoint',
              'work/iter_2.pth', '--work-dir', 'work/test', '--out', 'preds',
              '--cfg-options', *roots, cwd=tmp_path, env=ENV,
              timeout=900).log
    assert 'mIoU' in log
    names = sorted(p.name for p in (tmp_path / 'preds').glob('*.png'))
    assert names == [f'ADE_val_{i:08d}.png' for i in (1, 2, 3)]
    label = cv2.imread(str(tmp_path / 'preds' / names[0]),
                       cv2.IMREAD_UNCHANGED)
    image = cv2.imread(str(data / 'images/validation' /
                           names[0].replace('.png', '.jpg')))
    assert label.shape == image.shape[:2]


# ------------------------------------------------------------ inferencers
def _trained_checkpoint(config, scope, path, classes):
    """The config's model with random weights, saved as a training run
    would (``meta.dataset_meta``): no ImageNet file involved."""
    from mmengine.registry import init_default_scope
    cfg = Config.fromfile(config)
    cfg.model.backbone.norm_cfg = dict(type='BN', requires_grad=True)
    init_default_scope(scope)
    models = __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS
    torch.manual_seed(0)
    model = models.build(cfg.model)
    torch.save({'state_dict': model.state_dict(),
                'meta': {'dataset_meta': {'classes': classes}}}, str(path))
    return cfg


def test_inferencers_with_trained_weights_and_no_imagenet_file(
        tmp_path, monkeypatch):
    """The paper configs name checkpoints/SwiftFormer_L1.pth, which is not
    there (the working directory is a fresh folder): mmdet's and mmseg's
    inferencers build the model and load the trained weights anyway."""
    from mmdet.apis import DetInferencer
    from mmseg.apis import MMSegInferencer
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)

    det_cfg = osp.join(ROOT, 'configs/detection/mask_rcnn_swiftformer_l1.py')
    assert not osp.exists(Config.fromfile(det_cfg).model.backbone.init_cfg[
        'checkpoint'])
    _trained_checkpoint(det_cfg, 'mmdet', tmp_path / 'det.pth',
                        tuple(f'c{i}' for i in range(80)))
    det = DetInferencer(model=det_cfg, weights=str(tmp_path / 'det.pth'),
                        device='cpu', show_progress=False)
    out = det(image, return_datasamples=True)['predictions'][0]
    assert {'bboxes', 'scores', 'labels', 'masks'} <= set(
        out.pred_instances.keys())

    seg_cfg = osp.join(ROOT,
                       'configs/segmentation/semantic_fpn_swiftformer_l1.py')
    _trained_checkpoint(seg_cfg, 'mmseg', tmp_path / 'seg.pth',
                        tuple(f'c{i}' for i in range(150)))
    seg = MMSegInferencer(model=seg_cfg, weights=str(tmp_path / 'seg.pth'),
                          device='cpu')
    pred = seg(image, return_datasamples=True)
    assert tuple(pred.pred_sem_seg.shape) == (96, 128)
