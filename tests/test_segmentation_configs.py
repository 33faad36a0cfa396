"""The Semantic FPN configs in configs/segmentation/.

Each config must load, build with its backbone weights read from an
authors'-format checkpoint, compute a loss and predict with whole and slide
inference; the paper's recipe is asserted value by value, so a changed recipe
fails here.
"""
import os.path as osp

import pytest
import torch
from mmengine.config import Config, ConfigDict
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import init_default_scope

from conftest import (DEMO_CLASSIFIER, pipeline_step, write_authors_checkpoint,
                      write_demo_classifier)
from swiftformer_mm.demo_data.ade import ADE_LABELS, DEMO_CLASSES
from swiftformer_mm.models import SwiftFormer

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG_DIR = osp.join(ROOT, 'configs', 'segmentation')
ARCHS = ('xs', 's', 'l1', 'l3')
DEMO = 'semantic_fpn_swiftformer_xs_demo.py'


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    """These tensors are tiny; on the shared 2-core machines a second
    intra-op thread mostly adds contention (up to 10x slower under load)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def config_path(name: str) -> str:
    return osp.join(CONFIG_DIR, name)


def load(arch: str) -> Config:
    return Config.fromfile(config_path(f'semantic_fpn_swiftformer_{arch}.py'))


def without_scope(obj):
    """The config as plain data, without the ``_scope_`` keys that mmengine
    adds while loading (so recipe values compare to plain dicts)."""
    if isinstance(obj, dict):
        return ConfigDict({k: without_scope(v) for k, v in obj.items()
                           if k != '_scope_'})
    if isinstance(obj, (list, tuple)):
        return type(obj)(without_scope(v) for v in obj)
    return obj


@pytest.mark.parametrize('arch', ARCHS)
def test_recipe(arch):
    """Paper / EfficientFormer ADE20K recipe: Semantic FPN, 150 classes,
    512x512 crops, 40k iterations, AdamW 2e-4 wd 1e-4, poly 0.9, 8x4."""
    cfg = without_scope(load(arch).to_dict())
    assert cfg.default_scope == 'mmseg'
    assert cfg.custom_imports == dict(
        imports=['swiftformer_mm', 'swiftformer_mm.engine'],
        allow_failed_imports=False)
    assert cfg.custom_hooks == [dict(type='ExactResumeHook')]

    widths = SwiftFormer.arch_settings[arch]['widths']
    model = cfg.model
    assert model.type == 'EncoderDecoder'
    ckpt = f'checkpoints/SwiftFormer_{arch.upper()}.pth'
    assert model.backbone == dict(
        type='SwiftFormer', arch=arch, out_indices=(0, 1, 2, 3),
        drop_path_rate=0., norm_cfg=dict(type='SyncBN', requires_grad=True),
        out_norm_cfg=None, frozen_stages=-1, norm_eval=False,
        init_cfg=dict(type='Pretrained', checkpoint=ckpt))
    assert model.neck.type == 'FPN'
    assert model.neck.in_channels == widths
    assert (model.neck.out_channels, model.neck.num_outs) == (256, 4)
    head = model.decode_head
    assert head.type == 'FPNHead' and head.num_classes == 150
    assert head.norm_cfg == dict(type='SyncBN', requires_grad=True)
    assert head.in_channels == [256] * 4 and head.channels == 128
    assert model.data_preprocessor.size == (512, 512)
    assert model.test_cfg == dict(mode='whole')

    optim = cfg.optim_wrapper
    assert optim.type == 'OptimWrapper'  # fp32; --amp switches
    assert optim.optimizer == dict(type='AdamW', lr=2e-4, weight_decay=1e-4)
    assert 'paramwise_cfg' not in optim and optim.get('clip_grad') is None
    assert cfg.param_scheduler == [
        dict(type='PolyLR', power=0.9, begin=0, end=40000, eta_min=0.,
             by_epoch=False)
    ]
    assert cfg.train_cfg.type == 'IterBasedTrainLoop'
    assert cfg.train_cfg.max_iters == 40000
    assert cfg.auto_scale_lr == dict(enable=False, base_batch_size=32)

    train = cfg.train_dataloader
    assert train.batch_size == 4  # x 8 GPUs = base_batch_size 32
    assert train.sampler.type == 'InfiniteSampler'
    ade = train.dataset.dataset
    assert ade.type == 'ADE20KDataset' and 'metainfo' not in ade
    assert ade.data_root == 'data/ade/ADEChallengeData2016'
    assert ade.data_prefix == dict(img_path='images/training',
                                   seg_map_path='annotations/training')
    pipe = ade.pipeline
    assert pipeline_step(pipe, 'LoadAnnotations').reduce_zero_label is True
    assert pipeline_step(pipe, 'RandomResize') == dict(
        type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0),
        keep_ratio=True)
    assert pipeline_step(pipe, 'RandomCrop') == dict(
        type='RandomCrop', crop_size=(512, 512), cat_max_ratio=0.75)
    assert pipeline_step(pipe, 'RandomFlip').prob == 0.5
    pipeline_step(pipe, 'PhotoMetricDistortion')

    for loader in (cfg.val_dataloader, cfg.test_dataloader):
        val = loader.dataset
        assert val.type == 'ADE20KDataset'
        assert val.data_prefix == dict(img_path='images/validation',
                                       seg_map_path='annotations/validation')
        assert pipeline_step(val.pipeline, 'Resize') == dict(
            type='Resize', scale=(2048, 512), keep_ratio=True)
        assert pipeline_step(val.pipeline, 'LoadAnnotations').reduce_zero_label
    assert cfg.val_evaluator == dict(type='IoUMetric', iou_metrics=['mIoU'])


def test_demo_config_is_the_xs_model_on_demo_data():
    real = without_scope(load('xs').to_dict())
    demo = without_scope(Config.fromfile(config_path(DEMO)).to_dict())
    # the same model apart from what a CPU demo needs to differ
    for key in ('type', 'arch', 'out_indices', 'drop_path_rate',
                'out_norm_cfg', 'frozen_stages'):
        assert demo.model.backbone[key] == real.model.backbone[key], key
    # starts from the classification demo's weights (tools/run_cls_demo.sh)
    assert demo.model.backbone.init_cfg == dict(type='Pretrained',
                                                checkpoint=DEMO_CLASSIFIER)
    assert demo.model.backbone.norm_cfg.type == 'BN'
    assert demo.model.decode_head.norm_cfg.type == 'BN'
    assert demo.model.neck == real.model.neck
    assert demo.model.decode_head.num_classes == len(DEMO_CLASSES)
    assert demo.optim_wrapper.optimizer.type == 'AdamW'
    for loader in (demo.train_dataloader.dataset.dataset,
                   demo.val_dataloader.dataset, demo.test_dataloader.dataset):
        assert loader.type == 'ADE20KDataset'
        assert loader.metainfo == dict(classes=DEMO_CLASSES)
    assert demo.param_scheduler[0].end == demo.train_cfg.max_iters


def test_demo_classes_carry_ade_label_values():
    """The generator writes ADE's label values (index in the 150 + 1), which
    mmseg's ADE20KDataset maps to the demo's class indices by name."""
    from mmseg.datasets import ADE20KDataset
    names = ADE20KDataset.METAINFO['classes']
    for name, value in ADE_LABELS.items():
        assert names[value - 1] == name
    label_map = ADE20KDataset.get_label_map(DEMO_CLASSES)
    for i, name in enumerate(DEMO_CLASSES):
        assert label_map[ADE_LABELS[name] - 1] == i


def seg_batch(shapes, num_classes, seed=0):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    gen = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for h, w in shapes:
        inputs.append(torch.randint(0, 256, (3, h, w), generator=gen,
                                    dtype=torch.uint8))
        sample = SegDataSample(metainfo=dict(img_shape=(h, w),
                                             ori_shape=(h, w)))
        labels = torch.randint(0, num_classes, (1, h, w), generator=gen)
        labels[:, :4] = 255  # ignored pixels, as ADE's "other"
        sample.gt_sem_seg = PixelData(data=labels)
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def build_model(cfg: Config):
    from mmseg.registry import MODELS
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    model.init_weights()
    # what mmengine's Runner does without a launcher (one process)
    return revert_sync_batchnorm(model)


def check_loss_and_predict(cfg: Config, num_classes: int, model=None):
    crop = (64, 64)
    cfg.model.data_preprocessor.size = crop
    if model is None:
        model = build_model(cfg)
    model.data_preprocessor.size = crop
    assert not any(isinstance(m, torch.nn.SyncBatchNorm)
                   for m in model.modules())

    model.train()
    batch = seg_batch([(64, 64), (64, 64)], num_classes)
    losses = model(**model.data_preprocessor(batch, True), mode='loss')
    total, _ = model.parse_losses(losses)
    assert torch.isfinite(total) and total > 0
    total.backward()
    grad = model.backbone.network[6][-1].attn.final.weight.grad
    assert grad is not None and grad.abs().sum() > 0

    model.eval()
    # whole-image inference (the configs' mode) at an odd size
    with torch.no_grad():
        whole = model(**model.data_preprocessor(
            seg_batch([(70, 90)], num_classes, seed=1), False),
            mode='predict')[0]
    assert whole.pred_sem_seg.data.shape == (1, 70, 90)
    assert whole.seg_logits.data.shape == (num_classes, 70, 90)

    # sliding-window inference over a larger image
    model.test_cfg = ConfigDict(mode='slide', crop_size=crop, stride=(48, 48))
    with torch.no_grad():
        slide = model(**model.data_preprocessor(
            seg_batch([(100, 120)], num_classes, seed=2), False),
            mode='predict')[0]
    pred = slide.pred_sem_seg.data
    assert pred.shape == (1, 100, 120)
    assert 0 <= pred.min() and pred.max() < num_classes
    return model


@pytest.mark.parametrize('arch', ARCHS)
def test_build_loss_predict_with_authors_weights(tmp_path, arch):
    ckpt = tmp_path / f'SwiftFormer_{arch.upper()}.pth'
    expected = write_authors_checkpoint(ckpt, arch)
    cfg = load(arch)
    cfg.model.backbone.init_cfg.checkpoint = str(ckpt)
    model = build_model(cfg)
    # the ImageNet weights are loaded, with the authors' `Proj` renamed
    loaded = model.backbone.state_dict()
    last = f'network.6.{len(model.backbone.network[6]) - 1}'
    for key in ('patch_embed.0.weight', 'network.1.norm.running_var',
                'network.4.0.pwconv1.weight', last + '.attn.w_g',
                last + '.attn.proj.weight'):
        assert torch.equal(loaded[key], expected[key]), key
    check_loss_and_predict(cfg, 150, model)


def test_demo_config_loads_the_demo_classifier_trains_and_predicts(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    expected = write_demo_classifier(tmp_path / DEMO_CLASSIFIER, seed=3)
    cfg = Config.fromfile(config_path(DEMO))
    model = build_model(cfg)
    loaded = model.backbone.state_dict()
    for key, value in expected.items():
        assert torch.equal(loaded[key], value), key
    check_loss_and_predict(cfg, len(DEMO_CLASSES), model)


def test_missing_imagenet_weights_build_and_fail_at_init_with_the_fix(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no checkpoints/ here
    cfg = load('l1')
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    model = MODELS.build(cfg.model)  # inference needs no ImageNet file
    with pytest.raises(FileNotFoundError,
                       match=r"checkpoints/SwiftFormer_L1\.pth.*init_cfg"):
        model.init_weights()
