# RetinaNet + FPN with a SwiftFormer-L1 backbone on COCO 2017, 1x schedule.
#
# NOT FROM THE PAPER: the SwiftFormer paper reports Mask R-CNN only. This is
# an example of SwiftFormer under a one-stage head, with no accuracy claim; it
# has not been trained to convergence here (no COCO, no GPUs).
#
# mmdet's RetinaNet reads strides 8-32 of the backbone (its FPN has
# start_level=1 over ResNet's four levels) and adds P6/P7 on top. With
# SwiftFormer the backbone returns only those three levels (out_indices
# (1, 2, 3)), so the 1/4-scale output norm is not even built and the FPN starts
# at its first input. out_indices=(0, 1, 2, 3) with the shipped start_level=1
# works too (the unread level's norm gets a zero gradient, so distributed
# training needs no find_unused_parameters), at the cost of one unused norm.
#
# Everything else is mmdet's RetinaNet recipe (1333x800, 12 epochs, steps at
# 8 and 11), with the optimizer of our Mask R-CNN configs (AdamW lr 2e-4,
# weight decay 1e-4, for 8 GPUs x 4 images), which suits the transformer
# backbone better than the base's SGD 0.01 for ResNet.
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'

# swiftformer_mm registers the models and the checkpoint backend,
# swiftformer_mm.engine the ExactResumeHook below.
custom_imports = dict(
    imports=['swiftformer_mm', 'swiftformer_mm.engine'],
    allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,  # nothing of the base's ResNet may reach SwiftFormer
        type='SwiftFormer',
        arch='l1',
        out_indices=(1, 2, 3),  # strides 8, 16, 32 (C3-C5)
        drop_path_rate=0.,
        init_cfg=dict(
            type='Pretrained', checkpoint='checkpoints/SwiftFormer_L1.pth')),
    neck=dict(
        in_channels=[96, 192, 384],  # L1 widths of stages 1-3
        start_level=0,
        add_extra_convs='on_input',  # P6 from C5, as the base
        num_outs=5))

train_dataloader = dict(batch_size=4, num_workers=4)

optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=2e-4, weight_decay=1e-4))
auto_scale_lr = dict(enable=False, base_batch_size=32)

# Checkpoints are written atomically (temporary file + rename), so a crash
# mid-write never leaves a truncated one for --resume; the backend is
# swiftformer_mm's, registered on import, and serves only these writes.
default_hooks = dict(checkpoint=dict(backend_args=dict(backend='atomic_local')))

# Random generator states go into every checkpoint and come back on
# --resume, so a resumed run continues exactly as the uninterrupted one
# (whatever starts it: tools/train.py, mim train, mmdet's own
# tools/train.py, a script building a Runner from this config).
custom_hooks = [dict(type='ExactResumeHook')]
