# SwiftFormer-XS classifier trained from scratch on the generated shapes and
# textures set (swiftformer_mm.demo_data.cls, 6 classes, 64x64 images), on a
# CPU in a few minutes: bash tools/run_cls_demo.sh. The ImageNet model and
# recipe of swiftformer_xs_in1k.py, scaled down to a toy set.
_base_ = './swiftformer_xs_in1k.py'

data_root = 'data/demo_cls/'
classes = ('circle_solid', 'circle_striped', 'triangle_solid',
           'triangle_striped', 'square_solid', 'square_striped')

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

# 480 images, batch 32: 15 iterations per epoch.
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=2,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=2,
         end=30),
]
train_cfg = dict(by_epoch=True, max_epochs=30, val_interval=10)
auto_scale_lr = dict(base_batch_size=32)
custom_hooks = []  # an EMA with decay 0.99996 would not move in 450 steps
default_hooks = dict(
    logger=dict(interval=15),
    checkpoint=dict(interval=10, max_keep_ckpts=1))
randomness = dict(seed=0)
