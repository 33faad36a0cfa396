"""Tiny configs and data for the reliability tests (subprocess runs of
tools/train.py / tools/test.py on a generated COCO-format dataset)."""
import json
import os
import os.path as osp
import socket

import numpy as np

from conftest import MIM, PYTHON, ROOT, run  # noqa: F401  (re-exported)

# The tools run through conftest.run; ``run_tool`` is its former name here
# (tests/test_reliability.py calls it so).
run_tool = run

# One thread per process, and no GPU even where there is one: the
# distributed tests are about the CPU (gloo) path.
DIST_ENV = dict(OMP_NUM_THREADS='1', CUDA_VISIBLE_DEVICES='')


def free_port() -> int:
    """A TCP port on localhost that nothing listens on now."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]

# A SwiftFormer-XS Mask R-CNN of the demo config with narrow heads, on 64x64
# images: the same code paths (RPN/RoI sampling, mask head, flip) in ~1 s per
# step on 2 cores.
TINY_DET = '''
_base_ = {base!r}
custom_imports = dict(
    imports=['swiftformer_mm', 'swiftformer_mm.engine', 'kill_hook'],
    allow_failed_imports=False)
data_root = {data_root!r}
img_scale = (64, 64)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor'))
]
train_dataloader = dict(
    batch_size=2,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
test_dataloader = dict(
    batch_size=2, dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
model = dict(
    backbone=dict(init_cfg=None),  # the demo starts from its classifier
    rpn_head=dict(in_channels=32, feat_channels=32),
    neck=dict(out_channels=32),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=32),
        mask_roi_extractor=dict(out_channels=32),
        bbox_head=dict(in_channels=32, fc_out_channels=64),
        mask_head=dict(in_channels=32, conv_out_channels=32)),
    train_cfg=dict(
        rpn=dict(sampler=dict(num=64)),
        rpn_proposal=dict(nms_pre=200, max_per_img=100),
        rcnn=dict(sampler=dict(num=32))))
train_cfg = dict(max_epochs=2)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=3)]
optim_wrapper = dict(optimizer=dict(lr=1e-3))
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(interval=1, max_keep_ckpts=3),
    visualization=dict(draw=False))
# A list replaces the base's: the demo's exact resume is named again.
custom_hooks = [dict(type='ExactResumeHook'), dict(type='KillAfterEpochHook')]
log_processor = dict(window_size=1)
randomness = dict(seed=0, deterministic=True)
'''

# Kills its own process (SIGKILL, nothing runs after it) once the checkpoint
# of epoch $KILL_AFTER_EPOCH is written, or mid-epoch once iteration
# $KILL_AFTER_ITER (counted from 1 over the whole run) is trained; a no-op
# when the variables are unset.
KILL_HOOK = '''
import os
import signal

from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class KillAfterEpochHook(Hook):
    priority = 'LOWEST'  # after CheckpointHook (VERY_LOW)

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if str(runner.iter + 1) == os.environ.get('KILL_AFTER_ITER'):
            os.kill(os.getpid(), signal.SIGKILL)

    def after_train_epoch(self, runner):
        if str(runner.epoch + 1) == os.environ.get('KILL_AFTER_EPOCH'):
            os.kill(os.getpid(), signal.SIGKILL)
'''


def make_coco(out_dir, num_train=4, num_val=2, empty_images=0):
    """Generate the tiny dataset; append ``empty_images`` object-free images
    to both splits."""
    import cv2
    from swiftformer_mm.demo_data import coco
    files = coco.generate(out_dir, num_train=num_train, num_val=num_val,
                          image_size=(64, 64), min_radius=8, max_radius=20)
    for split, ann_file in files.items():
        with open(ann_file) as f:
            data = json.load(f)
        for k in range(empty_images):
            name = f'empty_{k}.png'
            cv2.imwrite(osp.join(out_dir, split, name),
                        np.full((64, 64, 3), 127, np.uint8))
            data['images'].append(dict(id=1000 + k, file_name=name,
                                       height=64, width=64))
        with open(ann_file, 'w') as f:
            json.dump(data, f)
    return files


def write_tiny_det(tmp_path, data_root, extra=''):
    base = osp.join(ROOT, 'configs/detection/mask_rcnn_swiftformer_xs_demo.py')
    (tmp_path / 'kill_hook.py').write_text(KILL_HOOK)
    cfg = tmp_path / 'tiny_det.py'
    cfg.write_text(TINY_DET.format(base=base, data_root=str(data_root) + '/')
                   + extra)
    return str(cfg)


def logged_losses(work_dir):
    """{iteration: loss} of every run logged in work_dir (scalars.json)."""
    losses = {}
    for root, _, files in os.walk(work_dir):
        if 'scalars.json' in files:
            with open(osp.join(root, 'scalars.json')) as f:
                for line in f:
                    rec = json.loads(line)
                    if 'loss' in rec:
                        losses[rec['step']] = rec['loss']
    return losses
