# UPerNet with a SwiftFormer-L1 backbone on ADE20K, 512x512 crops, 160k
# iterations.
#
# NOT FROM THE PAPER: the SwiftFormer paper reports Semantic FPN only. This is
# an example of SwiftFormer under mmseg's UPerNet, with no accuracy claim; it
# has not been trained here (no ADE20K, no GPUs).
#
# UPerHead reads all four levels (in_index (0, 1, 2, 3)); the auxiliary FCN
# head reads level 2 (stride 16). Everything else is mmseg's UPerNet recipe
# (SyncBN heads, 160k iterations, poly schedule, 512x512 crops), with the
# optimizer of our Semantic FPN configs (AdamW lr 2e-4, weight decay 1e-4; the
# base's batch of 4 GPUs x 4 images is kept), which suits the transformer backbone better
# than the base's SGD 0.01 for ResNet.
_base_ = 'mmseg::upernet/upernet_r50_4xb4-160k_ade20k-512x512.py'

# swiftformer_mm registers the models and the checkpoint backend,
# swiftformer_mm.engine the ExactResumeHook below.
custom_imports = dict(
    imports=['swiftformer_mm', 'swiftformer_mm.engine'],
    allow_failed_imports=False)

widths = [48, 96, 192, 384]  # L1
model = dict(
    pretrained=None,  # the base names ResNet weights here
    backbone=dict(
        _delete_=True,  # nothing of the base's ResNetV1c may reach SwiftFormer
        type='SwiftFormer',
        arch='l1',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.,
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        init_cfg=dict(
            type='Pretrained', checkpoint='checkpoints/SwiftFormer_L1.pth')),
    decode_head=dict(in_channels=widths),
    auxiliary_head=dict(in_channels=widths[2]))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, weight_decay=1e-4))
auto_scale_lr = dict(enable=False, base_batch_size=16)

# Checkpoints are written atomically (temporary file + rename), so a crash
# mid-write never leaves a truncated one for --resume; the backend is
# swiftformer_mm's, registered on import, and serves only these writes.
default_hooks = dict(checkpoint=dict(backend_args=dict(backend='atomic_local')))

# Random generator states go into every checkpoint and come back on
# --resume, so a resumed run continues exactly as the uninterrupted one
# (whatever starts it: tools/train.py, mim train, mmseg's own
# tools/train.py, a script building a Runner from this config).
custom_hooks = [dict(type='ExactResumeHook')]
