# Semantic FPN with a SwiftFormer-L1 backbone on ADE20K, the recipe of the
# paper's Table 3 (41.4 mIoU): Semantic FPN, 512x512 crops, 40k iterations,
# AdamW lr 2e-4 wd 1e-4, poly (power 0.9), 8 GPUs x 4 images. The paper
# follows EfficientFormer, which follows PoolFormer; mmseg ships exactly that
# recipe as its PoolFormer config, so everything not stated here comes from it
# (ADE20K 150 classes, the standard ADE20K train/test pipelines, FPN with
# 256 channels, FPNHead with SyncBN, whole-image inference, checkpoints and
# validation every 4k iterations).
_base_ = 'mmseg::poolformer/fpn_poolformer_s12_8xb4-40k_ade20k-512x512.py'

# The base imports mmpretrain for its PoolFormer; only this package is needed:
# swiftformer_mm registers the models and the checkpoint backend,
# swiftformer_mm.engine the ExactResumeHook below.
custom_imports = dict(
    imports=['swiftformer_mm', 'swiftformer_mm.engine'],
    allow_failed_imports=False)

# SyncBN in the backbone too (the base uses it in the decode head): with 4
# images per GPU, per-GPU batch statistics at stride 32 are noisy; SyncBN
# computes them over the whole batch of 32. Without a launcher (one process),
# mmengine's Runner turns every SyncBN into BN by itself ("Distributed
# training is not used, all SyncBatchNorm ... reverted"), so the same config
# also runs on one GPU or a CPU.
norm_cfg = dict(type='SyncBN', requires_grad=True)
# The authors' ImageNet-1K weights (SwiftFormer_L1.pth from the links in
# github.com/Amshaker/SwiftFormer), relative to the working directory; any
# format the backbone reads works (HF, timm, OpenMMLab). A missing file fails
# at build time; override with
# --cfg-options model.backbone.init_cfg.checkpoint=PATH.
checkpoint_file = 'checkpoints/SwiftFormer_L1.pth'

model = dict(
    backbone=dict(
        _delete_=True,  # nothing of the PoolFormer backbone may leak
        type='SwiftFormer',
        arch='l1',
        out_indices=(0, 1, 2, 3),  # strides 4, 8, 16, 32 for the FPN
        # The paper states none; 0 as in PoolFormer's and EfficientFormer's
        # segmentation backbones (40k iterations of fine-tuning).
        drop_path_rate=0.,
        norm_cfg=norm_cfg,
        # Output norms of the authors' dense-prediction variant: BatchNorm
        # (None = norm_cfg, so SyncBN here). EfficientFormer used
        # GroupNorm(1, C) instead: out_norm_cfg=dict(type='GN', num_groups=1).
        # ImageNet checkpoints do not have them; they start freshly
        # initialised.
        out_norm_cfg=None,
        frozen_stages=-1,  # fine-tune everything, as EfficientFormer does
        norm_eval=False,  # BN statistics adapt to ADE20K (synced, see above)
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    neck=dict(in_channels=[48, 96, 192, 384]))  # the L1 widths

# fp32, as the original (mmseg 0.x) PoolFormer/EfficientFormer recipe
# (`optimizer_config = dict()`, quoted in the base); mmseg 1.x's port switched
# the base to AmpOptimWrapper, which also only runs on GPUs. The optimizer
# (AdamW, lr 2e-4, wd 1e-4, no paramwise rules) and the PolyLR schedule
# (power 0.9, eta_min 0, 40k iterations) are the base's. `--amp` of
# tools/train.py turns mixed precision on (the attention normalises in fp32).
optim_wrapper = dict(type='OptimWrapper')

# The lr above is for 8 GPUs x 4 images; `tools/train.py --auto-scale-lr`
# scales it linearly to another total batch size.
auto_scale_lr = dict(enable=False, base_batch_size=32)

# Checkpoints are written atomically (temporary file + rename), so a crash
# mid-write never leaves a truncated one for --resume; the backend is
# swiftformer_mm's, registered on import, and serves only these writes.
default_hooks = dict(checkpoint=dict(backend_args=dict(backend='atomic_local')))

# Random generator states go into every checkpoint and come back on
# --resume, so a resumed run continues exactly as the uninterrupted one
# (whatever starts it: tools/train.py, mim train, mmseg's own
# tools/train.py, a script building a Runner from this config).
custom_hooks = [dict(type='ExactResumeHook')]
