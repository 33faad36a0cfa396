"""The ImageNet side (mmpretrain): the authors' classifier, every
classification checkpoint format, the evaluation transform, the configs,
and what goes wrong loudly.

Logits are compared with independent implementations on the same random,
non-trivial weights: timm's ``swiftformer_*`` (averaged heads, current
formula) and transformers' ``SwiftFormerForImageClassification`` (legacy).
"""
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config

import swiftformer_mm  # noqa: F401  registers the models
from conftest import randomize_, relative_error, run
from swiftformer_mm import CheckpointError
from swiftformer_mm.checkpoint import safe_load
from swiftformer_mm.checkpoint.layouts import rename_key
from swiftformer_mm.models import SwiftFormer, load_checkpoint

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
ARCHS = ['xs', 's', 'l1', 'l3']
TOLERANCE = 1e-4
# The paper's classifiers (authors' code, with the distillation head).
PAPER_PARAMS = {'xs': 3_475_360, 's': 6_092_128, 'l1': 12_057_920,
                'l3': 28_494_736}
PAPER_GMACS = {'xs': 0.6, 's': 1.0, 'l1': 1.6, 'l3': 4.0}


def config_path(arch):
    return osp.join(ROOT, f'configs/classification/swiftformer_{arch}_in1k.py')


def build_classifier(arch, checkpoint=None, **backbone):
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(config_path(arch))
    cfg.model.backbone.update(backbone)
    init_default_scope('mmpretrain')
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        load_checkpoint(model, str(checkpoint))
    return model.eval()


def logits(model, x):
    with torch.no_grad():
        return model(x, mode='tensor')


def timm_reference(arch, seed=1):
    timm = pytest.importorskip('timm')
    return randomize_(timm.create_model(f'swiftformer_{arch}'), seed).eval()


def batch(seed=0):
    return torch.randn(2, 3, 224, 224,
                       generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize('arch', ARCHS)
def test_logits_match_timm(arch, tmp_path):
    ref = timm_reference(arch)
    torch.save(ref.state_dict(), tmp_path / 'timm.pth')
    ours = build_classifier(arch, tmp_path / 'timm.pth')
    x = batch()
    err = relative_error(logits(ours, x), ref(x).detach())
    print(f'timm {arch}: {err:.2e}')
    assert err < TOLERANCE


@pytest.mark.parametrize('arch', ARCHS)
def test_logits_match_transformers_legacy(arch, tmp_path):
    transformers = pytest.importorskip('transformers')
    arch_cfg = SwiftFormer.arch_settings[arch]
    config = transformers.SwiftFormerConfig(
        depths=arch_cfg['depths'], embed_dims=arch_cfg['widths'],
        num_labels=1000)
    ref = randomize_(
        transformers.SwiftFormerForImageClassification(config)).eval()
    ref.save_pretrained(tmp_path / 'hf')
    path = tmp_path / 'hf' / 'model.safetensors'
    with pytest.raises(CheckpointError, match="attn_formula='legacy'"):
        build_classifier(arch, path)  # the config's current formula
    ours = build_classifier(arch, path, attn_formula='legacy')
    x = batch(1)
    with torch.no_grad():
        expected = ref(x).logits
    err = relative_error(logits(ours, x), expected)
    print(f'transformers {arch}: {err:.2e}')
    assert err < TOLERANCE


def authors_layout(classifier):
    """A classifier's weights as the authors' checkpoints name them."""
    return {rename_key(k, 'mmpretrain').replace('.attn.proj.', '.attn.Proj.'):
            v for k, v in classifier.state_dict().items()}


@pytest.mark.parametrize('container', ['raw', 'model', 'mmpretrain'])
def test_authors_and_mmpretrain_checkpoints(container, tmp_path):
    ref = timm_reference('xs', seed=2)
    torch.save(ref.state_dict(), tmp_path / 'timm.pth')
    source = build_classifier('xs', tmp_path / 'timm.pth')
    if container == 'raw':
        obj = authors_layout(source)
    elif container == 'model':
        obj = {'model': authors_layout(source), 'epoch': 299}
    else:
        obj = {'state_dict': source.state_dict(), 'meta': {}}
    torch.save(obj, tmp_path / 'ckpt.pth')
    ours = build_classifier('xs', tmp_path / 'ckpt.pth')
    x = batch(2)
    assert relative_error(logits(ours, x), ref(x).detach()) < TOLERANCE


@pytest.mark.parametrize('arch', ARCHS)
def test_params_and_gmacs_match_the_paper(arch):
    from swiftformer_mm.analysis.flops import count
    model = build_classifier(arch)
    assert sum(p.numel() for p in model.parameters()) == PAPER_PARAMS[arch]
    gmacs = count(model, torch.zeros(1, 3, 224, 224))['gmacs']
    assert abs(gmacs / PAPER_GMACS[arch] - 1) < 0.03, gmacs


def test_eval_transform_is_the_authors(tmp_path):
    """The config's test pipeline + data preprocessor against the authors'
    torchvision transform (util/datasets.py) on real-sized JPEGs."""
    from mmengine.dataset import Compose
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    from PIL import Image
    from torchvision import transforms
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(config_path('l1'))
    pipeline = Compose(cfg.test_dataloader.dataset.pipeline)
    # The same with mmcv's defaults: OpenCV decoding and bicubic resizing.
    opencv = Compose([dict(type='LoadImageFromFile'),
                      dict(type='ResizeEdge', scale=256, edge='short',
                           interpolation='bicubic'),
                      dict(type='CenterCrop', crop_size=224),
                      dict(type='PackInputs')])
    preprocessor = MODELS.build(dict(type='ClsDataPreprocessor',
                                      **cfg.data_preprocessor))
    authors = transforms.Compose([
        transforms.Resize(int(256 / 224 * 224), interpolation=3),
        transforms.CenterCrop(224),
        transforms.ToTensor(),
        transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    ])
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(375, 500), (500, 333), (480, 640)]):
        # smooth content plus noise, like a photo's mix of both
        yy, xx = np.mgrid[0:h, 0:w]
        img = (127 + 100 * np.sin(xx[..., None] / (7 + i) + np.arange(3))
               * np.cos(yy[..., None] / 11) + rng.normal(0, 20, (h, w, 3)))
        path = str(tmp_path / f'{i}.jpg')
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(
            path, quality=90)
        expected = authors(Image.open(path).convert('RGB'))
        packed = pipeline(dict(img_path=path))
        got = preprocessor(dict(inputs=[packed['inputs']],
                                data_samples=[packed['data_samples']]),
                           False)['inputs'][0]
        assert got.shape == expected.shape == (3, 224, 224)
        err = (got - expected).abs().max().item()
        packed = opencv(dict(img_path=path))
        cv = preprocessor(dict(inputs=[packed['inputs']],
                               data_samples=[packed['data_samples']]),
                          False)['inputs'][0]
        cv_err = (cv - expected).abs()
        print(f'{h}x{w}: max |ours - authors| {err:.2e}; with OpenCV '
              f'resizing: max {cv_err.max():.3f}, mean {cv_err.mean():.4f} '
              '(normalised units)')
        assert err < 1e-5
        assert cv_err.max() > 100 * err  # why the config says pillow


def test_detection_checkpoint_is_not_a_classifier(tmp_path):
    backbone = randomize_(SwiftFormer('xs'))
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in
                               backbone.state_dict().items()}},
               tmp_path / 'det.pth')
    with pytest.raises(CheckpointError,
                       match='no classification head.*backbone, detection'):
        build_classifier('xs', tmp_path / 'det.pth')


def test_head_of_another_class_count_is_refused(tmp_path):
    ref = timm_reference('xs')
    torch.save(ref.state_dict(), tmp_path / 'timm.pth')
    model = build_classifier('xs')
    model.head.head = torch.nn.Linear(220, 6)
    model.head.dist_head = torch.nn.Linear(220, 6)
    with pytest.raises(CheckpointError,
                       match='head for 1000 classes.*num_classes=6'):
        load_checkpoint(model, str(tmp_path / 'timm.pth'))


def test_classifier_checkpoint_initialises_detector_and_segmentor(tmp_path):
    """A classifier trained or fine-tuned in mmpretrain is the ImageNet
    init of the detection and segmentation configs; its classifier norm
    (backbone.norm6) is not an output norm of theirs."""
    from mmengine.registry import init_default_scope
    classifier = randomize_(build_classifier('xs'), seed=4)
    path = tmp_path / 'cls.pth'
    torch.save({'state_dict': classifier.state_dict(), 'meta': {}}, path)
    trunk = {k[len('backbone.'):]: v
             for k, v in classifier.state_dict().items()
             if k.startswith('backbone.') and 'norm6' not in k}
    for config, scope in (
            ('detection/mask_rcnn_swiftformer_xs.py', 'mmdet'),
            ('segmentation/semantic_fpn_swiftformer_xs.py', 'mmseg')):
        cfg = Config.fromfile(osp.join(ROOT, 'configs', config))
        cfg.model.backbone.init_cfg.checkpoint = str(path)
        cfg.model.backbone.norm_cfg = dict(type='BN', requires_grad=True)
        init_default_scope(scope)
        registry = __import__(f'{scope}.registry', fromlist=['MODELS'])
        model = registry.MODELS.build(cfg.model)
        model.init_weights()
        state = model.backbone.state_dict()
        for key, value in trunk.items():
            assert torch.equal(state[key], value), (config, key)
        assert not torch.equal(state['norm6.weight'],
                               classifier.backbone.norm6.weight)


# --------------------------------------------------- configs and the tools
def test_training_the_distillation_head_is_refused_before_start():
    from swiftformer_mm.engine import check_trainable_head
    with pytest.raises(ValueError, match='model.head.distillation=False'):
        check_trainable_head(Config.fromfile(config_path('l1')))


def test_missing_or_misshapen_imagenet_is_refused(tmp_path):
    from swiftformer_mm.engine import check_image_folders
    cfg = Config.fromfile(config_path('l1'))
    root = tmp_path / 'imagenet'
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = str(root)
    with pytest.raises(FileNotFoundError, match='imagenet/train.*does not '
                       'exist.*data_root=PATH'):
        check_image_folders(cfg)
    (root / 'train' / 'n01440764').mkdir(parents=True)
    (root / 'val').mkdir()
    (root / 'val' / 'ILSVRC2012_val_00000001.JPEG').write_bytes(b'')
    with pytest.raises(ValueError, match='no class sub-folders.*meta'):
        check_image_folders(cfg)  # a flat val folder needs meta/val.txt
    (root / 'meta').mkdir()
    (root / 'meta' / 'val.txt').write_text('ILSVRC2012_val_00000001.JPEG 0\n')
    check_image_folders(cfg)


def test_configs_follow_the_authors():
    cfg = {a: Config.fromfile(config_path(a)) for a in ARCHS}
    for arch, c in cfg.items():
        assert c.default_scope == 'mmpretrain'
        assert c.model.backbone.arch == arch
        assert c.model.head.in_channels == \
            SwiftFormer.arch_settings[arch]['widths'][-1]
        assert c.optim_wrapper.optimizer.lr == 2e-3
        assert c.optim_wrapper.optimizer.weight_decay == 0.025
        assert c.train_cfg.max_epochs == 300
        assert c.auto_scale_lr.base_batch_size == 2048
        steps = [t['type'] for t in c.train_dataloader.dataset.pipeline]
        # dist_train.sh: XS without RandAugment (colour jitter instead)
        assert ('RandAugment' in steps) == (arch != 'xs')
        assert ('ColorJitter' in steps) == (arch == 'xs')
        # XS and S without mixup/cutmix
        has_mix = bool((c.model.get('train_cfg') or {}).get('augments'))
        assert has_mix == (arch in ('l1', 'l3'))


@pytest.mark.slow
def test_demo_trains_and_tools_test_reads_an_authors_checkpoint(tmp_path):
    """tools/train.py on the generated set, then tools/test.py on the result
    and on the same weights saved as the authors do: same top-1."""
    from swiftformer_mm.demo_data import cls
    data = tmp_path / 'data'
    cls.generate(str(data), train_per_class=8, val_per_class=4, size=48)
    config = osp.join(ROOT, 'configs/classification/swiftformer_xs_demo.py')
    options = [f'{split}.dataset.data_root={data}' for split in
               ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    env = dict(OMP_NUM_THREADS='1')
    run('train.py', config, '--work-dir', 'work', '--cfg-options',
        'train_cfg.max_epochs=2', 'train_cfg.val_interval=2',
        'default_hooks.checkpoint.interval=2', *options, cwd=tmp_path,
        env=env, timeout=300)
    ckpt = tmp_path / 'work' / 'epoch_2.pth'

    def top1(path, options):
        log = run('test.py', config, str(path), '--work-dir', 'test',
                  '--cfg-options', *options, cwd=tmp_path, env=env,
                  timeout=300).log
        assert 'SwiftFormerClassifier: loaded' in log
        return float(log.rsplit('accuracy/top1: ', 1)[1].split()[0])

    state = safe_load(ckpt)
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    model = MODELS.build(Config.fromfile(config).model)
    model.load_state_dict(state['state_dict'])
    torch.save(authors_layout(model), tmp_path / 'authors.pth')
    # A user checking downloaded weights has the val set only: test.py reads
    # the test split and must not ask for the train folder.
    val_only = tmp_path / 'val_only'
    val_only.mkdir()
    (val_only / 'val').symlink_to(data / 'val')
    assert top1(ckpt, options) == top1(
        tmp_path / 'authors.pth',
        [option.replace(str(data), str(val_only)) for option in options])


@pytest.mark.slow
def test_mmpretrain_models_import_with_this_transformers():
    """swiftformer_mm.compat mends mmpretrain 1.2's multimodal imports,
    which newer transformers broke; without the mend the break is there."""
    plain = run((sys.executable, '-c', 'import mmpretrain.models'),
                check=False)
    helper = run((sys.executable, '-c', 'from transformers.modeling_utils '
                  'import apply_chunking_to_forward'), check=False)
    if helper.returncode != 0:  # the break the mend is for
        assert plain.returncode != 0
        assert 'NoneType takes no arguments' in plain.stderr
    mended = run((sys.executable, '-c',
                  'import swiftformer_mm, mmpretrain.models; '
                  'from mmpretrain.registry import MODELS; '
                  'print(MODELS.get("EfficientFormerClsHead").__name__)'))
    assert 'EfficientFormerClsHead' in mended.stdout
