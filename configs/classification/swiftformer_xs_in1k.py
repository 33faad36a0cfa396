# SwiftFormer-XS on ImageNet-1K: as swiftformer_l1_in1k.py, but the authors'
# dist_train.sh trains XS without RandAugment, mixup and cutmix
# (--aa="" --mixup 0 --cutmix 0), so timm's transform applies colour jitter
# 0.4 instead. Paper Table 2: 75.7 top-1.
_base_ = './swiftformer_l1_in1k.py'

model = dict(
    backbone=dict(arch='xs'),
    head=dict(in_channels=220),
    train_cfg=dict(_delete_=True))

bgr_mean = [103.53, 116.28, 123.675]
bgr_std = [57.375, 57.12, 58.395]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4),
    dict(type='RandomErasing', erase_prob=0.25, mode='rand',
         min_area_ratio=0.02, max_area_ratio=1 / 3, fill_color=bgr_mean,
         fill_std=bgr_std),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
