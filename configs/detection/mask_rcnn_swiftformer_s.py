# Mask R-CNN + FPN, SwiftFormer-S, COCO 2017 1x: the L1 recipe (see
# mask_rcnn_swiftformer_l1.py for every choice and why) with the S backbone.
# The paper reports no detection result for S.
# Pretrained: SwiftFormer_S.pth from the authors' README
# (https://github.com/Amshaker/SwiftFormer, ImageNet-1K table) in checkpoints/.
_base_ = './mask_rcnn_swiftformer_l1.py'

model = dict(
    backbone=dict(
        arch='s',
        init_cfg=dict(checkpoint='checkpoints/SwiftFormer_S.pth')),
    neck=dict(in_channels=[48, 64, 168, 224]))
