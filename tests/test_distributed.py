"""Distributed training on CPU (issue 6): ``tools/dist_train.sh CONFIG 2``
(torchrun, two gloo processes) against one process with the same total
batch, as real subprocess runs of the tools.

The comparison is made exact up to float rounding by removing everything
that legitimately differs between one batch of 2 and two batches of 1:
backbone BN in eval mode (``norm_eval=True``), GroupNorm in the decode head,
no dropout, a fixed Resize instead of random crop/flip/photometric
augmentation, and ``DefaultSampler(shuffle=False)``, which hands rank ``r``
the indices ``r, r + 2, ...``: the two processes' iteration ``t`` is the
single process's batch ``{2t, 2t + 1}``. The loss is a per-pixel mean over
equally sized images and DDP averages gradients, so both runs take the same
gradient steps. SGD with momentum is used: its update is linear in the
gradient, so the weight difference measures the gradient difference
(AdamW divides by the gradient's magnitude and turns round-off in
near-zero gradients into differences up to its lr; see docs/reliability.md).
"""
import os.path as osp

import pytest
import torch

import swiftformer_mm  # noqa: F401  allow-lists Runner checkpoint globals
from conftest import PYTHON, ROOT, run
from reliability_helpers import DIST_ENV, free_port, logged_losses
from swiftformer_mm.checkpoint import safe_load

# Whole exports, trainings or tool runs: out of the fast lane.
pytestmark = pytest.mark.slow

SEG_DEMO = osp.join(ROOT, 'configs/segmentation/'
                    'semantic_fpn_swiftformer_xs_demo.py')
ITERS = 4
# Measured: 5.4e-8 after 4 iterations (OMP_NUM_THREADS=1), while the same
# weights move by up to 8e-2; BN in train mode instead (per-process batch
# statistics) makes the runs differ by 0.19.
TOLERANCE = 1e-6

TINY_SEG = '''
_base_ = {base!r}
data_root = {data_root!r}
size = (64, 64)
model = dict(
    data_preprocessor=dict(size=size),
    # BN uses its running statistics: no dependence on the batch split.
    # (From scratch: the demo's pretrained classifier is not here.)
    backbone=dict(norm_eval=True, init_cfg=None),
    # GroupNorm normalises each sample on its own; no dropout.
    decode_head=dict(norm_cfg=dict(type='GN', num_groups=8,
                                   requires_grad=True),
                     dropout_ratio=0.))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='Resize', scale=size, keep_ratio=False),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=2,
    sampler=dict(_delete_=True, type='DefaultSampler', shuffle=False),
    dataset=dict(
        _delete_=True,
        type='ADE20KDataset',
        data_root=data_root,
        data_prefix=dict(img_path='images/training',
                         seg_map_path='annotations/training'),
        reduce_zero_label=True,
        metainfo=dict(classes=('building', 'sky', 'tree', 'road', 'grass',
                               'car')),
        pipeline=train_pipeline))
val_dataloader = None
val_evaluator = None
val_cfg = None
test_dataloader = None
test_evaluator = None
test_cfg = None
optim_wrapper = dict(optimizer=dict(
    _delete_=True, type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4))
param_scheduler = [
    dict(type='PolyLR', power=0.9, begin=0, end={iters} * 2, eta_min=0.,
         by_epoch=False)
]
train_cfg = dict(max_iters={iters}, val_interval={iters})
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(interval=1),
    visualization=dict(draw=False))
log_processor = dict(window_size=1)
randomness = dict(seed=0)
'''

ENV = DIST_ENV
DIST_TRAIN = ('bash', osp.join(ROOT, 'tools/dist_train.sh'))  # CONFIG NPROC


def dist_env():
    """ENV for tools/dist_train.sh: this Python, and a free port."""
    return dict(ENV, PYTHON=PYTHON, PORT=str(free_port()))


@pytest.fixture(scope='module')
def seg_setup(tmp_path_factory):
    from swiftformer_mm.demo_data import ade
    tmp = tmp_path_factory.mktemp('dist')
    ade.generate(str(tmp / 'data'), num_train=2 * ITERS, num_val=1)
    cfg = tmp / 'tiny_seg.py'
    cfg.write_text(TINY_SEG.format(base=SEG_DEMO, data_root=str(tmp / 'data'),
                                   iters=ITERS))
    return tmp, str(cfg)


def _weights(path):
    return safe_load(path)['state_dict']


def _max_diff(a, b):
    assert a.keys() == b.keys()
    worst = (0., None)
    for key in a:
        if not a[key].is_floating_point():
            assert torch.equal(a[key], b[key]), key
            continue
        diff = (a[key] - b[key]).abs().max().item()
        if diff >= worst[0]:
            worst = (diff, key)
    return worst


def test_default_sampler_splits_a_global_batch_like_one_process(monkeypatch):
    """The premise of the comparison: with shuffle=False, ranks 0 and 1 at
    iteration t (batch 1 each) hold the single process's batch t of 2."""
    import mmengine.dataset.sampler as sampler_module
    from mmengine.dataset import DefaultSampler

    def indices(rank, world):
        monkeypatch.setattr(sampler_module, 'get_dist_info',
                            lambda: (rank, world))
        return list(DefaultSampler(range(2 * ITERS), shuffle=False, seed=0))

    single = indices(0, 1)
    ranks = [indices(r, 2) for r in range(2)]
    for t in range(ITERS):
        assert sorted(r[t] for r in ranks) == single[2 * t:2 * t + 2]


def test_two_process_cpu_training_equals_one_process(seg_setup):
    tmp, cfg = seg_setup
    single, dist = tmp / 'single', tmp / 'dist'
    run('train.py', cfg, '--work-dir', str(single), cwd=str(tmp), env=ENV)
    log = run((*DIST_TRAIN, cfg, '2'), '--work-dir', str(dist),
              '--cfg-options', 'train_dataloader.batch_size=1', cwd=str(tmp),
              env=dist_env(), timeout=300).log
    assert 'Distributed training: True' in log
    assert "dist_cfg=dict(backend='gloo')" in log
    assert 'CPUDistributedDataParallel' in log

    # Rank 0 logs the loss of its own half batch: it differs from the
    # single process's mean over both samples, so the batch really was split.
    ref, got = logged_losses(single), logged_losses(dist)
    assert sorted(ref) == sorted(got) == list(range(1, ITERS + 1))
    assert abs(ref[1] - got[1]) > 1e-4, (ref[1], got[1])

    for it in range(1, ITERS + 1):
        diff, key = _max_diff(_weights(single / f'iter_{it}.pth'),
                              _weights(dist / f'iter_{it}.pth'))
        assert diff < TOLERANCE, (it, key, diff)
    # ... and the weights did change: the comparison is not of two copies of
    # the initial weights.
    moved, _ = _max_diff(_weights(single / 'iter_1.pth'),
                         _weights(single / f'iter_{ITERS}.pth'))
    assert moved > 1e-2, moved


def test_syncbn_in_cpu_distributed_run_fails_clearly(seg_setup):
    tmp, cfg = seg_setup
    work = tmp / 'syncbn'
    proc = run((*DIST_TRAIN, cfg, '2'), '--work-dir', str(work),
               '--cfg-options', 'model.backbone.norm_cfg.type=SyncBN',
               cwd=str(tmp), env=dist_env(), check=False, timeout=300)
    assert proc.returncode != 0
    assert ('RuntimeError: the config uses SyncBN (model.backbone.norm_cfg), '
            'which torch runs on GPUs only') in proc.stderr
    assert 'revert_sync_bn=True' in proc.stderr
    assert not osp.exists(work / 'iter_1.pth')
