# Semantic FPN with a SwiftFormer-L3 backbone on ADE20K: the L1 config's
# recipe (paper Table 3: 43.9 mIoU; see there for every choice) with the
# L3 backbone.
_base_ = './semantic_fpn_swiftformer_l1.py'

model = dict(
    backbone=dict(
        arch='l3',
        init_cfg=dict(checkpoint='checkpoints/SwiftFormer_L3.pth')),
    neck=dict(in_channels=[64, 128, 320, 512]))  # the L3 widths
