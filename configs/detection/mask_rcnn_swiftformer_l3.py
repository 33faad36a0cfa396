# Mask R-CNN + FPN, SwiftFormer-L3, COCO 2017 1x: the L1 recipe (see
# mask_rcnn_swiftformer_l1.py for every choice and why) with the L3 backbone.
# Paper, Table 3: 42.7 box AP / 39.1 mask AP.
# Pretrained: SwiftFormer_L3.pth from the authors' README
# (https://github.com/Amshaker/SwiftFormer, ImageNet-1K table) in checkpoints/.
_base_ = './mask_rcnn_swiftformer_l1.py'

model = dict(
    backbone=dict(
        arch='l3',
        init_cfg=dict(checkpoint='checkpoints/SwiftFormer_L3.pth')),
    neck=dict(in_channels=[64, 128, 320, 512]))
