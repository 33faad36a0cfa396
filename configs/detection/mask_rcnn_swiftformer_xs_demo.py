# A CPU-sized run of the SwiftFormer-XS Mask R-CNN recipe on the synthetic
# shapes dataset (swiftformer_mm.demo_data.coco; `bash tools/run_demo.sh`
# generates it, trains, tests and draws predictions in a few minutes on 2
# cores). Same model family as the real config; what differs and why:
# * The "ImageNet" weights are those of the classification demo
#   (configs/classification/swiftformer_xs_demo.py, which tools/run_demo.sh
#   trains first and copies to checkpoints/swiftformer_xs_demo_cls.pth):
#   the same init_cfg path a real ImageNet file takes. From scratch:
#   --cfg-options model.backbone.init_cfg=None.
# * The lr is higher and the warmup short (a few hundred iterations).
# * 256x256 images of 3 classes and a few hundred iterations instead of
#   1333x800 COCO for 12 epochs.
# * No validation during training: tools/test.py evaluates the final
#   checkpoint (COCO box and mask AP), which is all the demo reports.
_base_ = './mask_rcnn_swiftformer_xs.py'

data_root = 'data/demo_coco/'
metainfo = dict(classes=('circle', 'triangle', 'square'))
img_scale = (256, 256)

# Heads at half width (FPN 128 channels instead of 256, box head fc 512
# instead of 1024): on 2 CPU cores the FPN, RPN and mask head convolutions,
# not the backbone, dominate a 256x256 step.
neck_channels = 128
model = dict(
    backbone=dict(init_cfg=dict(
        type='Pretrained', checkpoint='checkpoints/swiftformer_xs_demo_cls.pth')),
    neck=dict(out_channels=neck_channels),
    rpn_head=dict(in_channels=neck_channels, feat_channels=neck_channels),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=neck_channels),
        bbox_head=dict(
            in_channels=neck_channels, fc_out_channels=512, num_classes=3),
        mask_roi_extractor=dict(out_channels=neck_channels),
        mask_head=dict(
            in_channels=neck_channels,
            conv_out_channels=neck_channels,
            num_classes=3)),
    # A few objects per image need far fewer sampled RoIs than COCO's 512;
    # the mask head's cost grows with the positives among them.
    train_cfg=dict(rcnn=dict(sampler=dict(num=128))),
    # At most four objects per image: 200 proposals instead of 1000 for the
    # box head at test time.
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=200)))

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
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]

# The images are tiny PNGs: loading them in the training process is cheaper
# than worker processes competing for the 2 cores.
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        pipeline=train_pipeline))
test_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        pipeline=test_pipeline))
test_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
val_dataloader = None
val_evaluator = None
val_cfg = None

# 200 images / 4 per batch = 50 iterations per epoch, 150 in all; the lr
# drops x0.1 for the last epoch.
max_epochs = 3
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[2],
        gamma=0.1)
]
optim_wrapper = dict(optimizer=dict(lr=1e-3))
# The lr above is for this batch of 4 (1 process x 4 images).
auto_scale_lr = dict(base_batch_size=4)

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
log_processor = dict(window_size=10)

# A fixed seed: the README's figures come from this run, and a user's rerun
# reproduces them (tools/run_demo.sh SEED=1 ... for others).
randomness = dict(seed=0)
