# Mask R-CNN + FPN, SwiftFormer-XS, COCO 2017 1x: the L1 recipe (see
# mask_rcnn_swiftformer_l1.py for every choice and why) with the XS backbone.
# The paper reports no detection result for XS.
# Pretrained: SwiftFormer_XS.pth from the authors' README
# (https://github.com/Amshaker/SwiftFormer, ImageNet-1K table) in checkpoints/.
_base_ = './mask_rcnn_swiftformer_l1.py'

model = dict(
    backbone=dict(
        arch='xs',
        init_cfg=dict(checkpoint='checkpoints/SwiftFormer_XS.pth')),
    neck=dict(in_channels=[48, 56, 112, 220]))
