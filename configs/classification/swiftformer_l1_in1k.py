# SwiftFormer-L1 on ImageNet-1K: the authors' classifier, their evaluation
# transform and, as far as mmpretrain supports it, their training recipe
# (github.com/Amshaker/SwiftFormer, main.py, util/datasets.py, dist_train.sh).
# Paper Table 2: 80.9 top-1 (with distillation, see below).
#
#   # check downloaded weights (any format: authors', timm, HF, mmpretrain)
#   python tools/test.py configs/classification/swiftformer_l1_in1k.py SwiftFormer_L1.pth
#   # train (needs the switch below)
#   bash tools/dist_train.sh configs/classification/swiftformer_l1_in1k.py 16 \
#       --cfg-options model.head.distillation=False
#
# The model is the authors': the trunk, their final BatchNorm (our last
# output norm, out_indices=(3,)), global average pooling, and two linear
# heads, `head` and `dist_head`, whose outputs are averaged at test time
# (EfficientFormerClsHead with distillation=True).
#
# What mmpretrain cannot do, and what you get instead:
# * Hard distillation from a RegNetY-16GF teacher (alpha 0.5, tau 1): no
#   mmpretrain counterpart, and EfficientFormerClsHead refuses to train its
#   distillation head. Train with model.head.distillation=False (tools/train.py
#   refuses to start otherwise): one head on the labels, the authors'
#   `--distillation-type none` model. The paper's top-1 figures are with
#   distillation; expect lower without it (the paper does not give the figure).
# * Adaptive gradient clipping (timm `agc`, factor 0.01): mmengine clips by
#   norm or value only; no clipping here.
# * The authors evaluate (and save as `model`) the non-EMA weights; mmpretrain's
#   EMAHook evaluates both here and checkpoints the EMA weights.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]

# swiftformer_mm registers the models and the checkpoint backend,
# swiftformer_mm.engine the ExactResumeHook below.
custom_imports = dict(
    imports=['swiftformer_mm', 'swiftformer_mm.engine'],
    allow_failed_imports=False)

model = dict(
    type='SwiftFormerClassifier',  # ImageClassifier that reads every format
    backbone=dict(
        type='SwiftFormer',
        arch='l1',
        out_indices=(3, ),  # the last stage, with the final BatchNorm
        drop_path_rate=0.,  # the authors' main.py passes none (default 0)
        attn_formula='current'),  # 'legacy' for Hugging Face hub weights
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='EfficientFormerClsHead',
        in_channels=384,
        num_classes=1000,
        distillation=True,  # head + dist_head, averaged
        # main.py: LabelSmoothingCrossEntropy(0.1), or the mixup's smoothed
        # soft targets (the same thing, smoothing being linear)
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1,
                  mode='original'),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=.02, bias=0.)),
    # mixup 0.8 / cutmix 1.0, one of the two per batch (switch_prob 0.5)
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0)
    ]))

# Evaluation exactly as util/datasets.py: PIL decode, resize the short edge to
# int(256 / 224 * 224) = 256 with PIL bicubic, centre crop 224.
test_pipeline = [
    dict(type='LoadImageFromFile', imdecode_backend='pillow'),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow',
         interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
val_dataloader = dict(batch_size=192, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

# Training: the base's pipeline is the authors' for L1/L3: RandomResizedCrop
# 224 bicubic, flip, RandAugment rand-m9-mstd0.5-inc1, random erasing 0.25
# (pixel mode). 16 GPUs x 128 = 2048 images per iteration, with repeated
# augmentation (3 repeats).
train_dataloader = dict(
    batch_size=128, sampler=dict(type='RepeatAugSampler', shuffle=True))

# AdamW lr 2e-3 for the batch of 2048 (not scaled; main.py), weight decay
# 0.025, none on biases and norms (timm's add_weight_decay: 1-D parameters);
# the base's paramwise_cfg does exactly that.
optim_wrapper = dict(
    optimizer=dict(lr=2e-3, weight_decay=0.025, eps=1e-8,
                   betas=(0.9, 0.999)))
# 5 warmup epochs from 1e-6, then cosine to 1e-5, 300 epochs, stepped per
# epoch as timm's CosineLRScheduler.
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6 / 2e-3, by_epoch=True, begin=0,
         end=5),
    dict(type='CosineAnnealingLR', T_max=295, eta_min=1e-5, by_epoch=True,
         begin=5, end=300),
]
train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=20)
auto_scale_lr = dict(base_batch_size=2048)

# Model EMA, decay 0.99996, BN statistics averaged too (timm ModelEma).
# ExactResumeHook: random generator states go into every checkpoint and come
# back on --resume, so a resumed run continues exactly as the uninterrupted
# one (whatever starts it: tools/train.py, mim train, mmpretrain's own
# tools/train.py, a script building a Runner).
custom_hooks = [
    dict(type='EMAHook', momentum=4e-5, update_buffers=True,
         evaluate_on_origin=True, priority='ABOVE_NORMAL'),
    dict(type='ExactResumeHook'),
]

# Checkpoints are written atomically (temporary file + rename), so a crash
# mid-write never leaves a truncated one for --resume; the backend is
# swiftformer_mm's, registered on import, and serves only these writes.
default_hooks = dict(checkpoint=dict(backend_args=dict(backend='atomic_local')))
