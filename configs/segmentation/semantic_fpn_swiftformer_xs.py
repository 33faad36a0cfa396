# Semantic FPN with a SwiftFormer-XS backbone on ADE20K: the L1 config's
# recipe (see there for every choice) with the XS backbone. The paper
# reports no segmentation result for XS.
_base_ = './semantic_fpn_swiftformer_l1.py'

model = dict(
    backbone=dict(
        arch='xs',
        init_cfg=dict(checkpoint='checkpoints/SwiftFormer_XS.pth')),
    neck=dict(in_channels=[48, 56, 112, 220]))  # the XS widths
