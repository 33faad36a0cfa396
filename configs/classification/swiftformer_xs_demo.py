# SwiftFormer-XS classifier trained from scratch on the generated set
# (swiftformer_mm.demo_data.cls: the detection demo's 3 shapes and the
# segmentation demo's 6 materials, 64x64 images), on a CPU in about two
# minutes: bash tools/run_cls_demo.sh. It plays ImageNet's part for the
# detection and segmentation demos, which start from its weights. The
# ImageNet model and recipe of swiftformer_xs_in1k.py, scaled down.
_base_ = './swiftformer_xs_in1k.py'

data_root = 'data/demo_cls/'
classes = ('circle', 'triangle', 'square', 'building', 'sky', 'tree', 'road',
           'grass', 'car')

model = dict(
    # one head: mmpretrain cannot train the distillation head (see the base)
    head=dict(num_classes=len(classes), distillation=False))
data_preprocessor = dict(num_classes=len(classes))  # ImageNet mean/std

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    sampler=dict(_delete_=True, type='DefaultSampler', shuffle=True),
    dataset=dict(_delete_=True, type='CustomDataset', data_root=data_root,
                 data_prefix='train', metainfo=dict(classes=classes),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=64,
    num_workers=2,
    dataset=dict(_delete_=True, type='CustomDataset', data_root=data_root,
                 data_prefix='val', metainfo=dict(classes=classes),
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator

# 720 images, batch 32: 23 iterations per epoch.
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=2,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=2,
         end=12),
]
train_cfg = dict(by_epoch=True, max_epochs=12, val_interval=12)
auto_scale_lr = dict(base_batch_size=32)
# No EMA: with decay 0.99996 it would not move in 270 steps. (A list
# replaces the base's whole list, so the exact resume is named again.)
custom_hooks = [dict(type='ExactResumeHook')]
default_hooks = dict(
    logger=dict(interval=15),
    checkpoint=dict(interval=12, max_keep_ckpts=1))
randomness = dict(seed=0)
