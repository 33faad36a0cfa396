# Semantic FPN with a SwiftFormer-S backbone on ADE20K: the L1 config's
# recipe (see there for every choice) with the S backbone. The paper
# reports no segmentation result for S.
_base_ = './semantic_fpn_swiftformer_l1.py'

model = dict(
    backbone=dict(
        arch='s',
        init_cfg=dict(checkpoint='checkpoints/SwiftFormer_S.pth')),
    neck=dict(in_channels=[48, 64, 168, 224]))  # the S widths
