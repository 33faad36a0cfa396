# Mask R-CNN + FPN with a SwiftFormer-L1 backbone on COCO 2017 instances,
# 1x schedule: the recipe of Table 3 of the SwiftFormer paper (ICCV 2023),
# which reports 41.2 box AP / 38.1 mask AP for L1. The paper follows
# EfficientFormer's detection recipe; its shipped mmdet base already has
# what is the same (Mask R-CNN + FPN out 256, 1333x800 keep-ratio resize with
# random flip, 12 epochs with lr x0.1 at epochs 8 and 11, linear warmup over
# 500 iterations from lr x0.001, ImageNet mean/std in RGB), so only what
# differs is stated here.
#
# Choices the paper leaves open, and ours:
# * Output norms (one per returned stage): BatchNorm, as in the dense-
#   prediction variant of the authors' model file (`fork_feat=True`), the only
#   detection code of theirs there is (out_norm_cfg=None -> norm_cfg). Their
#   recipe's source, EfficientFormer, uses GroupNorm(1, C) there instead
#   (`out_norm_cfg=dict(type='GN', num_groups=1)` to try it).
# * Trunk norms: plain BatchNorm in training mode, all stages trainable
#   (norm_cfg=BN, norm_eval=False, frozen_stages=-1), as EfficientFormer's
#   mmdet backbone trains them; unlike mmdet's ResNet recipe, which freezes the
#   stem and all BN statistics. With 4 images of ~800x1200 per GPU each BN sees
#   enough pixels; set norm_cfg=dict(type='SyncBN', requires_grad=True) to
#   sync them across GPUs.
# * Drop path rate 0.0: EfficientFormer's detection backbone and the authors'
#   dense variant both default to 0; a 12-epoch fine-tune needs no extra
#   regularisation.
# * Weight decay 1e-4 on all parameters (norms and layer scales included, no
#   paramwise_cfg) and no gradient clipping, as EfficientFormer's config.
#   AdamW betas are PyTorch's defaults (0.9, 0.999).
# * Batch 32 = 8 GPUs x 4 images per GPU (EfficientFormer's mmdet 2.x config
#   inherited 2 per GPU; the paper states 32 in total).
# * Attention formula 'current' (the authors' code since 2023-07 and the
#   weights their README links today).
#
# Pretrained weights: the authors' ImageNet-1K checkpoint, file name as they
# publish it. Download SwiftFormer_L1.pth from the Google Drive link in
# https://github.com/Amshaker/SwiftFormer#ImageNet-1K (README table) into
# checkpoints/ at the repository root (docs/detection.md); a missing file
# stops the run when the model is built, before any data is loaded.
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'

# swiftformer_mm registers the models and the checkpoint backend,
# swiftformer_mm.engine the ExactResumeHook below.
custom_imports = dict(
    imports=['swiftformer_mm', 'swiftformer_mm.engine'],
    allow_failed_imports=False)

model = dict(
    backbone=dict(
        # Nothing of the base's ResNet (depth, style, frozen_stages=1,
        # norm_eval=True, torchvision weights) may reach SwiftFormer.
        _delete_=True,
        type='SwiftFormer',
        arch='l1',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.,
        norm_cfg=dict(type='BN', requires_grad=True),
        out_norm_cfg=None,
        norm_eval=False,
        frozen_stages=-1,
        attn_formula='current',
        init_cfg=dict(
            type='Pretrained', checkpoint='checkpoints/SwiftFormer_L1.pth')),
    neck=dict(in_channels=[48, 96, 192, 384]))

# 8 GPUs x 4 images = 32 images per iteration.
train_dataloader = dict(batch_size=4, num_workers=4)

optim_wrapper = dict(
    optimizer=dict(
        _delete_=True, type='AdamW', lr=2e-4, weight_decay=1e-4))

# The lr above is for a total batch of 32; `--auto-scale-lr` (tools/train.py)
# scales it linearly to (#GPUs x images per GPU).
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
