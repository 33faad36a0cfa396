# SwiftFormer-S on ImageNet-1K: as swiftformer_l1_in1k.py, but the authors'
# dist_train.sh trains S without mixup and cutmix (--mixup 0 --cutmix 0).
# Paper Table 2: 78.5 top-1.
_base_ = './swiftformer_l1_in1k.py'

model = dict(
    backbone=dict(arch='s'),
    head=dict(in_channels=224),
    train_cfg=dict(_delete_=True))
