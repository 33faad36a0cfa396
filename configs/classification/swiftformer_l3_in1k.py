# SwiftFormer-L3 on ImageNet-1K: as swiftformer_l1_in1k.py (the same recipe in
# the authors' dist_train.sh). Paper Table 2: 83.0 top-1.
_base_ = './swiftformer_l1_in1k.py'

model = dict(backbone=dict(arch='l3'), head=dict(in_channels=512))
