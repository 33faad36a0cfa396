"""Exact resume, robust auto-resume, mixed precision and CPU distributed
training (issue 6). Subprocess runs of tools/train.py on a tiny generated
COCO-format dataset; see tests/reliability_helpers.py."""
import glob
import os
import os.path as osp

import pytest
import torch

from conftest import FLOAT16_ON_CPU
from reliability_helpers import (MIM, ROOT, logged_losses, make_coco,
                                 run_tool, write_tiny_det)
from swiftformer_mm.checkpoint import safe_load


@pytest.fixture(scope='module')
def det_setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('det')
    make_coco(str(tmp / 'data'), empty_images=1)
    return tmp, write_tiny_det(tmp, tmp / 'data')


@pytest.fixture(scope='module')
def uninterrupted(det_setup):
    tmp, cfg = det_setup
    work = tmp / 'full'
    run_tool('train.py', cfg, '--work-dir', str(work), cwd=str(tmp))
    return work


def _weights(path):
    return safe_load(path)['state_dict']


# The config names ExactResumeHook, so every entry point resumes exactly:
# ours, killed right after the checkpoint of epoch 1, and `mim train mmdet`
# (mmdet's own tools/train.py), killed mid-epoch 2 after the first of its two
# iterations; both resume from epoch_1.pth.
ENTRIES = {  # command, kill switch, last iteration trained before the kill
    'tools': ('train.py', dict(KILL_AFTER_EPOCH='1'), 2),
    'mim': ((MIM, 'train', 'mmdet'), dict(KILL_AFTER_ITER='3'), 3),
}


@pytest.mark.parametrize('entry', sorted(ENTRIES))
@pytest.mark.slow
@pytest.mark.stacks
def test_killed_and_resumed_run_matches_uninterrupted(entry, det_setup,
                                                      uninterrupted, tmp_path):
    tmp, cfg = det_setup
    command, kill, last_iter = ENTRIES[entry]
    work = tmp_path / 'killed'
    proc = run_tool(command, cfg, '--work-dir', str(work), cwd=str(tmp),
                    env=kill, check=False)
    # SIGKILL: our process itself; under mim, its child (mim then fails)
    assert proc.returncode == -9 or (
        entry == 'mim' and 'SIGKILL' in proc.stderr), proc.stderr[-3000:]
    assert osp.isfile(work / 'epoch_1.pth')
    assert not osp.exists(work / 'epoch_2.pth')
    assert max(logged_losses(work)) == last_iter
    run_tool(command, cfg, '--work-dir', str(work), '--resume', cwd=str(tmp))

    full, resumed = _weights(uninterrupted / 'epoch_2.pth'), _weights(
        work / 'epoch_2.pth')
    assert full.keys() == resumed.keys()
    for key in full:
        assert torch.equal(full[key], resumed[key]), key
    ref, got = logged_losses(uninterrupted), logged_losses(work)
    assert sorted(ref) == sorted(got) == [1, 2, 3, 4]
    assert got == ref  # the same float, iteration by iteration


def test_exact_resume_hook_restores_on_resume_only():
    """mmengine's Runner calls after_load_checkpoint for a plain load_from
    too: only a resumed run (training starting past iteration 0) gets the
    checkpoint's generator states, once."""
    from types import SimpleNamespace

    from swiftformer_mm.engine import (ExactResumeHook, get_rng_state,
                                       set_rng_state)
    outer = get_rng_state()
    try:
        checkpoint = {}
        torch.manual_seed(1)
        ExactResumeHook().before_save_checkpoint(None, checkpoint)
        after_save = torch.rand(3)
        for start_iter, restores in ((0, False), (4, True)):
            hook = ExactResumeHook()
            torch.manual_seed(2)
            fresh = torch.rand(3)
            torch.manual_seed(2)
            hook.after_load_checkpoint(None, checkpoint)
            runner = SimpleNamespace(iter=start_iter, train_loop=object())
            hook.before_train_epoch(runner)
            assert torch.equal(torch.rand(3),
                               after_save if restores else fresh)
            state = torch.get_rng_state()
            hook.before_train_epoch(runner)  # the next epoch: untouched
            assert torch.equal(torch.get_rng_state(), state)
    finally:
        set_rng_state(outer)


TRAINING_CONFIGS = sorted(
    osp.relpath(path, ROOT) for task in ('detection', 'segmentation',
                                         'classification')
    for path in glob.glob(osp.join(ROOT, 'configs', task, '*.py')))


@pytest.mark.parametrize('config', TRAINING_CONFIGS)
def test_every_training_config_names_exact_resume(config):
    """Exact resume is the config's, so mim and the libraries' own tools
    get it: one ExactResumeHook, which resolves under the config's scope
    once its custom_imports are imported."""
    from mmengine.config import Config
    from mmengine.registry import HOOKS, DefaultScope
    cfg = Config.fromfile(osp.join(ROOT, config))
    assert 'swiftformer_mm.engine' in cfg.custom_imports.imports
    names = [hook['type'] for hook in cfg.get('custom_hooks', [])]
    assert names.count('ExactResumeHook') == 1, names
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        hook = HOOKS.build(dict(type='ExactResumeHook'))
    assert type(hook).__module__ == 'swiftformer_mm.engine.resume'


def test_auto_resume_skips_truncated_checkpoint_and_pointer(det_setup,
                                                            uninterrupted,
                                                            tmp_path):
    import shutil
    from swiftformer_mm.engine import find_resumable_checkpoint
    work = tmp_path / 'work'
    work.mkdir()
    for name in ('epoch_1.pth', 'epoch_2.pth'):
        shutil.copy(uninterrupted / name, work / name)
    os.utime(work / 'epoch_1.pth', (1e9, 1e9))
    (work / 'last_checkpoint').write_text(str(work / 'epoch_2.pth'))
    assert find_resumable_checkpoint(str(work)) == str(work / 'epoch_2.pth')
    # last_checkpoint cut off mid-write, newest checkpoint truncated
    (work / 'last_checkpoint').write_text(str(work / 'epo'))
    data = (work / 'epoch_2.pth').read_bytes()
    (work / 'epoch_2.pth').write_bytes(data[:len(data) // 2])
    assert find_resumable_checkpoint(str(work)) == str(work / 'epoch_1.pth')
    # nothing loadable: a clear error, not a silent restart
    (work / 'epoch_1.pth').write_bytes(b'')
    with pytest.raises(RuntimeError, match='none of the checkpoints in .* '
                       'can be loaded.*--resume PATH'):
        find_resumable_checkpoint(str(work))
    assert find_resumable_checkpoint(str(tmp_path / 'empty')) is None


@pytest.mark.slow
def test_resume_missing_path_is_clear(det_setup):
    tmp, cfg = det_setup
    proc = run_tool('train.py', cfg, '--resume', str(tmp / 'nope.pth'),
                    cwd=str(tmp), check=False)
    assert proc.returncode != 0
    assert 'nope.pth: no such checkpoint file' in proc.stderr


@pytest.mark.slow
def test_amp_training_runs_bf16_on_cpu_with_finite_losses(det_setup):
    tmp, cfg = det_setup
    work = tmp / 'amp'
    run_tool('train.py', cfg, '--work-dir', str(work), '--amp',
             '--cfg-options', 'train_cfg.max_epochs=1', cwd=str(tmp))
    losses = logged_losses(work)
    assert sorted(losses) == [1, 2]
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    ckpt = safe_load(work / 'epoch_1.pth')
    assert all(torch.isfinite(v).all() for v in ckpt['state_dict'].values()
               if v.is_floating_point())
    dumped = open(work / 'tiny_det.py').read()
    assert "type='CPUAmpOptimWrapper'" in dumped
    assert "dtype='bfloat16'" in dumped


def test_cpu_amp_wrapper_autocasts_to_bf16():
    from mmengine.config import Config
    from swiftformer_mm.engine import CPUAmpOptimWrapper, apply_amp
    cfg = Config(dict(optim_wrapper=dict(
        type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1))))
    apply_amp(cfg)
    if torch.cuda.is_available():
        assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
        return
    assert cfg.optim_wrapper.type == 'CPUAmpOptimWrapper'
    model = torch.nn.Linear(4, 4)
    wrapper = CPUAmpOptimWrapper(
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    with wrapper.optim_context(model):
        out = model(torch.randn(2, 4))
    assert out.dtype == torch.bfloat16
    wrapper.update_params(out.float().pow(2).mean())
    assert model.weight.dtype == torch.float32

    # mmcv's compiled ops take fp32 only; inside the context they take the
    # bf16 tensors autocast hands them, as a detector's RPN and RoI heads do
    from mmcv.ops import RoIAlign, batched_nms
    boxes = torch.tensor([[0., 0., 4., 4.], [1., 1., 5., 5.]]).bfloat16()
    scores = torch.tensor([.9, .8]).bfloat16()
    feats = torch.randn(1, 2, 8, 8).bfloat16()
    rois = torch.tensor([[0., 1., 1., 6., 6.]]).bfloat16()
    nms_cfg = dict(type='nms', iou_threshold=0.3)
    with wrapper.optim_context(model):
        _, keep = batched_nms(boxes, scores, torch.zeros(2), nms_cfg)
        pooled = RoIAlign((2, 2), 1.0, 0)(feats, rois)
    assert keep.tolist() == [0] and pooled.dtype == torch.bfloat16
    with pytest.raises(RuntimeError):  # outside: mmcv's own functions
        batched_nms(boxes, scores, torch.zeros(2), nms_cfg)
    with pytest.raises(ValueError, match='bfloat16 only'):
        CPUAmpOptimWrapper(dtype='float16', optimizer=torch.optim.SGD(
            model.parameters(), lr=0.1))


# ------------------------------------------------------- half precision math
def _backbone(seed=0):
    from conftest import randomize_
    from swiftformer_mm import SwiftFormer
    return randomize_(SwiftFormer('xs'), seed)


def _cos(a, b):
    return torch.nn.functional.cosine_similarity(
        a.flatten().double(), b.flatten().double(), dim=0).item()


@pytest.mark.parametrize('dtype', [torch.bfloat16, FLOAT16_ON_CPU])
def test_backbone_autocast_matches_fp32(dtype, rand_image):
    torch.manual_seed(0)
    model = _backbone().train()
    x = rand_image(2, 3, 96, 128)
    ref = model(x)
    sum(o.float().pow(2).mean() for o in ref).backward()
    ref_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    with torch.autocast('cpu', dtype=dtype):
        out = model(x)
        loss = sum(o.float().pow(2).mean() for o in out)
    loss.backward()
    tol = 0.08 if dtype == torch.bfloat16 else 0.02
    for o, r in zip(out, ref):
        assert torch.isfinite(o).all()
        err = ((o.float() - r).abs().max() / r.abs().max()).item()
        assert err < tol, err
    for p, g in zip(model.parameters(), ref_grads):
        assert torch.isfinite(p.grad).all()
    flat = torch.cat([p.grad.flatten() for p in model.parameters()])
    assert _cos(flat, torch.cat([g.flatten() for g in ref_grads])) > 0.99


@pytest.mark.parametrize('dtype', [torch.bfloat16, FLOAT16_ON_CPU])
def test_attention_half_precision_many_large_tokens(dtype):
    """10k tokens whose attention scores are ~10 (a trained w_g of large
    norm): their sum of squares over the tokens, ~1e6, is beyond fp16's
    65504; all-zero tokens would divide by zero."""
    from swiftformer_mm.models.blocks import EfficientAdditiveAttention
    torch.manual_seed(0)
    attn = EfficientAdditiveAttention(16)
    with torch.no_grad():
        attn.w_g.mul_(40.)
    x = torch.randn(1, 16, 100, 100) * 10 + 10
    with torch.no_grad():
        query = torch.nn.functional.normalize(
            attn.to_query(x.flatten(2).transpose(1, 2)).transpose(1, 2), dim=1)
        scores = attn.w_g.t() @ query * attn.scale
    assert torch.isinf((scores.half() ** 2).sum())  # a naive fp16 norm
    ref = attn(x)
    half = attn.to(dtype)
    out = half(x.to(dtype))
    assert torch.isfinite(out).all()
    err = ((out.float() - ref).abs().max() / ref.abs().max()).item()
    assert err < (0.05 if dtype == torch.bfloat16 else 0.01), err
    x.requires_grad_(False)
    xh = x.to(dtype).requires_grad_()
    half(xh).float().sum().backward()
    assert torch.isfinite(xh.grad).all()
    # all-zero tokens: a plain fp16 F.normalize gives NaN (its eps 1e-12
    # is 0 in fp16)
    zeros = torch.zeros(1, 16, 8, 8, dtype=dtype)
    if dtype == torch.float16:
        assert torch.isnan(torch.nn.functional.normalize(
            zeros.flatten(2), dim=1)).all()
    assert torch.isfinite(half(zeros)).all()


def test_distributed_cpu_refuses_syncbn_clearly_or_reverts():
    from mmengine.config import Config
    from swiftformer_mm.engine import setup_distributed
    model = dict(backbone=dict(type='SwiftFormer',
                               norm_cfg=dict(type='SyncBN')),
                 decode_head=dict(norm_cfg=dict(type='SyncBN')))
    if torch.cuda.is_available():
        return
    cfg = Config(dict(model=model))
    with pytest.raises(RuntimeError, match='SyncBN .*GPUs only.*'
                       'revert_sync_bn=True'):
        setup_distributed(cfg, 'slurm')
    cfg = Config(dict(model=model, revert_sync_bn=True))
    setup_distributed(cfg, 'slurm')
    assert cfg.model.backbone.norm_cfg.type == 'BN'
    assert cfg.model.decode_head.norm_cfg.type == 'BN'
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg.type == 'CPUDistributedDataParallel'
