# A CPU-sized run of semantic_fpn_swiftformer_xs.py on the generated demo
# dataset (python -m swiftformer_mm.demo_data.ade data/ade_demo): same model,
# pipelines and optimizer, with small crops, a short schedule and plain BN.
# The backbone starts from the classification demo's weights
# (checkpoints/swiftformer_xs_demo_cls.pth, written by tools/run_cls_demo.sh)
# through init_cfg, as a real ImageNet file would; from scratch:
# --cfg-options model.backbone.init_cfg=None. See tools/run_seg_demo.sh and
# docs/segmentation.md.
_base_ = './semantic_fpn_swiftformer_xs.py'

# The demo scenes use six of ADE20K's classes with ADE's label values;
# mmseg's ADE20KDataset maps them to 0..5 given the class names.
demo_classes = ('building', 'sky', 'tree', 'road', 'grass', 'car')
data_root = 'data/ade_demo'
# The images are about 160x120: resize to a short side of ~128 and crop
# 128x128, instead of 512 crops of ADE20K's ~512-short-side images.
crop_size = (128, 128)
scale = (512, 128)
# One process, no GPU: plain BN (the Runner would revert SyncBN anyway; being
# explicit keeps the model buildable outside a Runner).
norm_cfg = dict(type='BN', requires_grad=True)
# 100 iterations of 8 crops: the from-scratch model is still learning there,
# which is where a pretrained start shows (tools/run_seg_demo.sh).
max_iters = 100

model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(norm_cfg=norm_cfg, init_cfg=dict(
        type='Pretrained',
        checkpoint='checkpoints/swiftformer_xs_demo_cls.pth')),
    decode_head=dict(num_classes=len(demo_classes), norm_cfg=norm_cfg))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(
        type='RandomResize', scale=scale, ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=scale, keep_ratio=True),
    dict(type='ResizeToMultiple', size_divisor=32),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs')
]
# Two CPU cores: load data in the main process (the images are tiny).
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        dataset=dict(
            data_root=data_root,
            metainfo=dict(classes=demo_classes),
            pipeline=train_pipeline)))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        metainfo=dict(classes=demo_classes),
        pipeline=test_pipeline))
test_dataloader = val_dataloader

# From scratch on a tiny dataset a larger lr converges within minutes; the
# recipe's 2e-4 is for fine-tuning ImageNet weights.
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='PolyLR', power=0.9, begin=0, end=max_iters, eta_min=0.,
         by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=max_iters))
auto_scale_lr = dict(base_batch_size=8)
randomness = dict(seed=0)
