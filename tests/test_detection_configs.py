"""The shipped detection configs: the paper's recipe is what they say, and
every one of them builds, loads its backbone checkpoint, computes losses and
predicts."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from conftest import (DEMO_CLASSIFIER, pipeline_step, write_authors_checkpoint,
                      write_demo_classifier)
from swiftformer_mm.demo_data.coco import CLASSES as DEMO_CLASSES

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG_DIR = osp.join(ROOT, 'configs', 'detection')

WIDTHS = {
    'xs': [48, 56, 112, 220],
    's': [48, 64, 168, 224],
    'l1': [48, 96, 192, 384],
    'l3': [64, 128, 320, 512],
}
ARCHS = list(WIDTHS)
DEMO = 'mask_rcnn_swiftformer_xs_demo.py'
# What SwiftFormer accepts; anything else would be a leftover of the base's
# ResNet (depth, style, num_stages, ...).
BACKBONE_KEYS = {
    'type', 'arch', 'in_channels', 'out_indices', 'mlp_ratio', 'drop_rate',
    'drop_path_rate', 'layer_scale_init_value', 'attn_formula', 'norm_cfg',
    'out_norm_cfg', 'frozen_stages', 'norm_eval', 'with_cp', 'init_cfg'
}


def config_path(name: str) -> str:
    return osp.join(CONFIG_DIR, name)


def load(name: str) -> Config:
    return Config.fromfile(config_path(name))


def real(arch: str) -> str:
    return f'mask_rcnn_swiftformer_{arch}.py'


def test_every_shipped_config_is_tested():
    import os
    shipped = {f for f in os.listdir(CONFIG_DIR) if f.endswith('.py')}
    # not from the paper; built, trained and run with 2 processes in
    # tests/test_head_families.py
    examples = {'retinanet_swiftformer_l1_fpn_1x_coco.py'}
    assert shipped == {real(a) for a in ARCHS} | {DEMO} | examples


@pytest.mark.parametrize('arch', ARCHS)
def test_paper_recipe(arch):
    cfg = load(real(arch))
    assert cfg.default_scope == 'mmdet'
    assert 'swiftformer_mm' in cfg.custom_imports.imports

    # model: Mask R-CNN + FPN (out 256) on the four SwiftFormer stages
    assert cfg.model.type == 'MaskRCNN'
    backbone = cfg.model.backbone
    assert set(backbone) <= BACKBONE_KEYS, set(backbone) - BACKBONE_KEYS
    assert backbone.type == 'SwiftFormer' and backbone.arch == arch
    assert tuple(backbone.out_indices) == (0, 1, 2, 3)
    assert backbone.drop_path_rate == 0.
    assert backbone.init_cfg == dict(
        type='Pretrained',
        checkpoint=f'checkpoints/SwiftFormer_{arch.upper()}.pth')
    assert cfg.model.neck.type == 'FPN'
    assert cfg.model.neck.in_channels == WIDTHS[arch]
    assert cfg.model.neck.out_channels == 256
    assert cfg.model.roi_head.bbox_head.num_classes == 80
    assert cfg.model.roi_head.mask_head.num_classes == 80

    # data: COCO 2017 instances at 1333x800
    for loader in (cfg.train_dataloader, cfg.test_dataloader):
        assert loader.dataset.type == 'CocoDataset'
    assert cfg.train_dataloader.dataset.ann_file == \
        'annotations/instances_train2017.json'
    assert cfg.test_dataloader.dataset.ann_file == \
        'annotations/instances_val2017.json'
    assert set(cfg.test_evaluator.metric) == {'bbox', 'segm'}
    for pipeline in (cfg.train_pipeline, cfg.test_pipeline,
                     cfg.train_dataloader.dataset.pipeline,
                     cfg.test_dataloader.dataset.pipeline):
        resize = pipeline_step(pipeline, 'Resize')
        assert tuple(resize.scale) == (1333, 800) and resize.keep_ratio

    # schedule: 12 epochs, x0.1 at 8 and 11, 500-iteration linear warmup
    assert cfg.train_cfg.type == 'EpochBasedTrainLoop'
    assert cfg.train_cfg.max_epochs == 12
    warmup, steps = cfg.param_scheduler
    assert warmup.type == 'LinearLR' and not warmup.by_epoch
    assert (warmup.begin, warmup.end) == (0, 500)
    assert warmup.start_factor == 0.001
    assert steps.type == 'MultiStepLR' and steps.by_epoch
    assert steps.milestones == [8, 11] and steps.gamma == 0.1
    assert steps.end == 12

    # optimizer: AdamW lr 2e-4, wd 1e-4, for a total batch of 32 = 8 x 4
    assert cfg.optim_wrapper.type == 'OptimWrapper'
    assert dict(cfg.optim_wrapper.optimizer) == dict(
        type='AdamW', lr=2e-4, weight_decay=1e-4)
    assert cfg.optim_wrapper.get('clip_grad') is None
    assert 'paramwise_cfg' not in cfg.optim_wrapper
    assert cfg.train_dataloader.batch_size == 4
    assert cfg.auto_scale_lr == dict(enable=False, base_batch_size=32)
    assert cfg.auto_scale_lr.base_batch_size == \
        8 * cfg.train_dataloader.batch_size


@pytest.mark.parametrize('arch', ARCHS)
def test_missing_pretrained_file_builds_and_stops_at_init(tmp_path,
                                                          monkeypatch, arch):
    """The paper config builds where its ImageNet file is missing (a trained
    checkpoint is loaded next); initialising for training stops."""
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope
    monkeypatch.chdir(tmp_path)  # no checkpoints/ here
    cfg = load(real(arch))
    init_default_scope('mmdet')
    model = MODELS.build(cfg.model)
    with pytest.raises(FileNotFoundError,
                       match=f'checkpoints/SwiftFormer_{arch.upper()}.pth'):
        model.init_weights()


def run_loss_and_predict(model, num_classes):
    from mmdet.testing import demo_mm_inputs
    packed = demo_mm_inputs(2, [[3, 64, 96], [3, 64, 64]],
                            num_items=[3, 2], num_classes=num_classes,
                            with_mask=True)
    model.train()
    losses = model(**model.data_preprocessor(packed, True), mode='loss')
    assert {'loss_rpn_cls', 'loss_cls', 'loss_bbox', 'loss_mask'} <= set(
        losses)
    total, _ = model.parse_losses(losses)
    assert torch.isfinite(total) and total > 0
    model.eval()
    with torch.no_grad():
        results = model(**model.data_preprocessor(packed, False),
                        mode='predict')
    assert len(results) == 2
    pred = results[0].pred_instances
    assert {'bboxes', 'scores', 'labels', 'masks'} <= set(pred.keys())
    assert pred.masks.shape[1:] == (64, 96)


def build(cfg):
    """Build and init the model; fewer RoIs than the recipe keep the CPU
    step short (the heads' sizes are unchanged)."""
    cfg.model.train_cfg.rcnn.sampler.num = 64
    cfg.model.test_cfg.rpn.update(nms_pre=200, max_per_img=50)
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope
    from mmengine.utils import import_modules_from_strings
    import_modules_from_strings(**cfg.custom_imports)
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


@pytest.mark.parametrize('arch', ARCHS)
def test_real_config_loads_authors_weights_and_runs(tmp_path, arch):
    cfg = load(real(arch))
    ckpt = tmp_path / f'SwiftFormer_{arch.upper()}.pth'
    expected = write_authors_checkpoint(ckpt, arch, seed=1)
    cfg.model.backbone.init_cfg.checkpoint = str(ckpt)
    model = build(cfg)
    loaded = model.backbone.state_dict()
    for key, value in expected.items():
        assert torch.equal(loaded[key], value), key
    run_loss_and_predict(model, num_classes=80)


def test_demo_config():
    cfg = load(DEMO)
    xs = load(real('xs'))
    # the XS recipe's model for the generated dataset, starting from the
    # classification demo's weights (tools/run_cls_demo.sh)
    backbone = cfg.model.backbone
    assert set(backbone) <= BACKBONE_KEYS
    assert backbone.type == 'SwiftFormer' and backbone.arch == 'xs'
    assert backbone.init_cfg == dict(type='Pretrained',
                                     checkpoint=DEMO_CLASSIFIER)
    assert {k: v for k, v in backbone.items() if k != 'init_cfg'} == \
        {k: v for k, v in xs.model.backbone.items() if k != 'init_cfg'}
    assert cfg.model.neck.in_channels == WIDTHS['xs']
    assert cfg.model.type == xs.model.type
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    assert cfg.auto_scale_lr.base_batch_size == \
        cfg.train_dataloader.batch_size
    classes = tuple(cfg.train_dataloader.dataset.metainfo.classes)
    assert classes == DEMO_CLASSES
    assert tuple(cfg.test_dataloader.dataset.metainfo.classes) == classes
    assert cfg.model.roi_head.bbox_head.num_classes == len(classes)
    assert cfg.model.roi_head.mask_head.num_classes == len(classes)
    assert cfg.test_evaluator.ann_file == osp.join(
        cfg.test_dataloader.dataset.data_root,
        cfg.test_dataloader.dataset.ann_file)


def test_demo_config_loads_the_demo_classifier_and_runs(tmp_path,
                                                        monkeypatch):
    monkeypatch.chdir(tmp_path)
    expected = write_demo_classifier(tmp_path / DEMO_CLASSIFIER, seed=3)
    model = build(load(DEMO))
    loaded = model.backbone.state_dict()
    for key, value in expected.items():
        assert torch.equal(loaded[key], value), key
    run_loss_and_predict(model, num_classes=len(DEMO_CLASSES))
