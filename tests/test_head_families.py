"""SwiftFormer with ``out_indices=(0, 1, 2, 3)`` dropped into shipped mmdet /
mmseg configs of every common head family, including necks and heads that
skip levels (FPN ``start_level=1``, decode heads' ``in_index``).

One process: each family builds under every registry name, trains a step
and predicts, and after the step **every trainable parameter has a
gradient**, which is what DistributedDataParallel without
``find_unused_parameters`` needs. Two processes: tools/dist_train.sh on the
RetinaNet example config, and a user's own script that wraps the model as
mmengine's Runner does, each for several iterations.
"""
import os.path as osp
import sys

import pytest
import torch
from mmengine.config import Config

from swiftformer_mm.models import SwiftFormer
from test_mm_integration import _seg_batch, build

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
XS = SwiftFormer.arch_settings['xs']['widths']  # [48, 56, 112, 220]

# family: (shipped base, registry, model overrides for an XS backbone)
DET_FAMILIES = {
    'retinanet': ('mmdet::retinanet/retinanet_r50_fpn_1x_coco.py',
                  dict(neck=dict(in_channels=XS))),  # FPN start_level=1
    'fcos': ('mmdet::fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py',
             dict(neck=dict(in_channels=XS))),  # FPN start_level=1
    'mask_rcnn': ('mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
                  dict(neck=dict(in_channels=XS))),
    # Necks that take exactly the levels they are given: strides 8-32.
    'dino': ('mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py',
             dict(backbone=dict(out_indices=(1, 2, 3)),
                  neck=dict(in_channels=XS[1:]),  # ChannelMapper
                  # tiny test images have fewer tokens than 900 queries
                  num_queries=50)),
    'rtmdet': ('mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py',
               dict(backbone=dict(out_indices=(1, 2, 3)),
                    neck=dict(in_channels=XS[1:]))),  # CSPNeXtPAFPN
}
BN = dict(type='BN', requires_grad=True)  # SyncBN needs a process group
SEG_FAMILIES = {
    'upernet': ('mmseg::upernet/upernet_r50_4xb4-80k_ade20k-512x512.py',
                dict(decode_head=dict(in_channels=XS, channels=32,
                                      norm_cfg=BN),
                     auxiliary_head=dict(in_channels=XS[2], channels=16,
                                         norm_cfg=BN))),
    # in_index=3 (aux 2): levels 0 and 1 are read by nobody
    'fcn': ('mmseg::fcn/fcn_r50-d8_4xb4-80k_ade20k-512x512.py',
            dict(decode_head=dict(in_channels=XS[3], channels=32,
                                  norm_cfg=BN),
                 auxiliary_head=dict(in_channels=XS[2], channels=16,
                                     norm_cfg=BN))),
    # in_index=3 plus c1 from level 0 (aux 2): level 1 is read by nobody
    'deeplabv3plus': (
        'mmseg::deeplabv3plus/deeplabv3plus_r50-d8_4xb4-80k_ade20k-512x512.py',
        dict(decode_head=dict(in_channels=XS[3], channels=32,
                              c1_in_channels=XS[0], c1_channels=8,
                              norm_cfg=BN),
             auxiliary_head=dict(in_channels=XS[2], channels=16,
                                 norm_cfg=BN))),
}


def user_config(tmp_path, base, backbone_type, overrides, extra=''):
    path = tmp_path / 'user_config.py'
    path.write_text(f"""
_base_ = '{base}'
custom_imports = dict(imports=['swiftformer_mm'], allow_failed_imports=False)
model = dict(
    backbone=dict(_delete_=True, type='{backbone_type}', arch='xs',
                  out_indices=(0, 1, 2, 3)))
{extra}
""")
    cfg = Config.fromfile(str(path))
    cfg.merge_from_dict(dict(model=overrides))
    return cfg


def train_step_then_predict(model, train_batch, test_batch):
    """One loss and backward step, after which every trainable parameter
    must have a gradient (what DDP without find_unused_parameters needs),
    then predict; returns the predictions."""
    model.train()
    losses = model(**model.data_preprocessor(train_batch, True), mode='loss')
    total, _ = model.parse_losses(losses)
    assert torch.isfinite(total) and total > 0
    total.backward()
    missing = [name for name, p in model.named_parameters()
               if p.requires_grad and p.grad is None]
    assert not missing, missing
    model.eval()
    with torch.no_grad():
        return model(**model.data_preprocessor(test_batch, False),
                     mode='predict')


@pytest.mark.parametrize('scope', ['SwiftFormer', 'mmdet.SwiftFormer'])
@pytest.mark.parametrize('family', sorted(DET_FAMILIES))
def test_detector_family(tmp_path, family, scope):
    from mmdet.testing import demo_mm_inputs
    base, overrides = DET_FAMILIES[family]
    cfg = user_config(tmp_path, base, scope, overrides)
    model = build(cfg, 'mmdet.registry')
    packed = demo_mm_inputs(2, [[3, 96, 128], [3, 64, 96]], num_items=[3, 2],
                            num_classes=80, with_mask=family == 'mask_rcnn')
    results = train_step_then_predict(model, packed, packed)
    assert len(results) == 2 and 'bboxes' in results[0].pred_instances


@pytest.mark.parametrize('scope', ['SwiftFormer', 'mmseg.SwiftFormer'])
@pytest.mark.parametrize('family', sorted(SEG_FAMILIES))
def test_segmentor_family(tmp_path, family, scope):
    base, overrides = SEG_FAMILIES[family]
    cfg = user_config(tmp_path, base, scope, overrides,
                      extra='model.update(pretrained=None)')
    cfg.model.data_preprocessor.size = (64, 64)
    model = build(cfg, 'mmseg.registry')
    results = train_step_then_predict(model, _seg_batch([(64, 64), (64, 64)]),
                                      _seg_batch([(64, 80)]))
    assert results[0].pred_sem_seg.data.shape == (1, 64, 80)


@pytest.mark.parametrize('config, registry', [
    ('detection/retinanet_swiftformer_l1_fpn_1x_coco.py', 'mmdet.registry'),
    ('segmentation/upernet_swiftformer_l1_512x512_160k_ade20k.py',
     'mmseg.registry'),
])
def test_example_configs(config, registry):
    """The example configs (not from the paper) build, train a step with
    every parameter reached, and predict."""
    cfg = Config.fromfile(osp.join(ROOT, 'configs', config))
    assert cfg.model.backbone.init_cfg.checkpoint.endswith('SwiftFormer_L1.pth')
    cfg.model.backbone.init_cfg = None
    if registry == 'mmseg.registry':
        for head in ('decode_head', 'auxiliary_head'):
            cfg.model[head].norm_cfg = BN
        cfg.model.backbone.norm_cfg = BN
        cfg.model.data_preprocessor.size = (64, 64)
        batch = _seg_batch([(64, 64), (64, 64)])
    else:
        from mmdet.testing import demo_mm_inputs
        batch = demo_mm_inputs(2, [[3, 96, 128], [3, 64, 96]],
                               num_items=[3, 2], num_classes=80)
    results = train_step_then_predict(build(cfg, registry), batch, batch)
    assert len(results) == 2


def test_unread_levels_change_no_value():
    """The zero term that ties the output norms into the graph leaves every
    output bitwise as it was."""
    torch.manual_seed(0)
    model = SwiftFormer('xs').train()
    x = torch.randn(2, 3, 64, 96)
    tied = model(x)  # training, grad enabled: the tie is there
    with torch.no_grad():
        plain = model(x)  # no autograd: no tie
    for a, b in zip(tied, plain, strict=True):
        assert torch.equal(a, b)
    sum(f.sum() for f in tied[1:]).backward()  # level 0 read by nobody
    assert torch.equal(model.norm0.weight.grad,
                       torch.zeros_like(model.norm0.weight))


def test_frozen_output_norms_are_left_out():
    model = SwiftFormer('xs', frozen_stages=1).train()  # stage 0, norm0
    out = model(torch.randn(1, 3, 64, 64))
    out[3].sum().backward()
    assert model.norm0.weight.grad is None  # frozen: no gradient wanted
    assert model.norm2.weight.grad is not None


# ------------------------------------------------------ two processes, gloo
# tests/ddp_user_script.py imports this module in each of its processes, so
# the two tests below import the runner (conftest, which also sets the test
# process's thread count) and the distributed helpers where they use them.


TINY_RETINANET = '''
_base_ = {base!r}
data_root = {data_root!r}
img_scale = (64, 64)
model = dict(
    # What a user's own config would say: the README snippet, and the
    # shipped FPN as it is (start_level=1): level 0 is read by nobody.
    backbone=dict(arch='xs', out_indices=(0, 1, 2, 3), init_cfg=None),
    neck=dict(in_channels={widths}, start_level=1, out_channels=32),
    bbox_head=dict(num_classes=3, in_channels=32, feat_channels=32,
                   stacked_convs=1))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='PackDetInputs')
]
metainfo = dict(classes=('circle', 'triangle', 'square'))
train_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/instances_train.json',
                 data_prefix=dict(img='train/'), pipeline=train_pipeline))
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=4,
                 val_interval=100)
val_dataloader = None
val_evaluator = None
val_cfg = None
test_dataloader = None
test_evaluator = None
test_cfg = None
param_scheduler = []
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval=100, by_epoch=False))
log_processor = dict(window_size=1, by_epoch=False)
'''


@pytest.fixture(scope='module')
def coco_root(tmp_path_factory):
    from swiftformer_mm.demo_data import coco
    root = tmp_path_factory.mktemp('coco')
    coco.generate(str(root), num_train=8, num_val=1)
    return str(root) + '/'


@pytest.mark.slow
@pytest.mark.stacks
def test_retinanet_example_trains_with_two_processes(tmp_path, coco_root):
    """tools/dist_train.sh, 2 gloo processes, 4 iterations: no 'parameters
    that were not used in producing loss' at the second."""
    cfg = tmp_path / 'retinanet.py'
    cfg.write_text(TINY_RETINANET.format(
        base=osp.join(ROOT, 'configs/detection/'
                      'retinanet_swiftformer_l1_fpn_1x_coco.py'),
        data_root=coco_root, widths=XS))
    from conftest import run
    from reliability_helpers import DIST_ENV, free_port
    env = dict(DIST_ENV, PYTHON=sys.executable, PORT=str(free_port()))
    log = run(('bash', osp.join(ROOT, 'tools/dist_train.sh'), str(cfg), '2'),
              '--work-dir', str(tmp_path / 'work'), cwd=str(tmp_path),
              env=env, timeout=400).log
    assert 'Distributed training: True' in log
    assert 'Iter(train) [4/4]' in log
    assert 'find_unused_parameters' not in log


@pytest.mark.slow
@pytest.mark.stacks
def test_users_own_ddp_script_with_fcn(tmp_path):
    """A user's script, launched with torchrun, that wraps an FCN
    (decode head reads level 3 only) in mmengine's MMDistributedDataParallel
    as the Runner does, without find_unused_parameters, for 3 steps."""
    from conftest import run
    from reliability_helpers import DIST_ENV, free_port
    script = osp.join(ROOT, 'tests', 'ddp_user_script.py')
    proc = run((sys.executable, '-m', 'torch.distributed.run',
                '--nproc_per_node=2', f'--master_port={free_port()}'),
               script, SEG_FAMILIES['fcn'][0], cwd=str(tmp_path),
               env=DIST_ENV, timeout=300)
    assert proc.stdout.count('step 3 loss') == 2, proc.stdout
