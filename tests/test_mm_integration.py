"""The backbone inside unmodified mmdet / mmseg configs.

Only ``custom_imports`` and the backbone are changed, as a user of another
OpenMMLab project would do; the model must build, compute losses and predict.
"""
import pytest
import torch
from mmengine.config import Config

WIDTHS_XS = [48, 56, 112, 220]


def user_config(tmp_path, base: str, backbone_type: str,
                extra: str = '') -> Config:
    """A user's own config file: a shipped base, custom_imports, backbone."""
    path = tmp_path / 'user_config.py'
    path.write_text(f"""
_base_ = '{base}'
custom_imports = dict(imports=['swiftformer_mm'], allow_failed_imports=False)
model = dict(
    {extra}
    backbone=dict(_delete_=True, type='{backbone_type}', arch='xs'),
    neck=dict(in_channels={WIDTHS_XS}))
""")
    return Config.fromfile(str(path))


def build(cfg, registry_module):
    import importlib
    from mmengine.registry import init_default_scope
    from mmengine.utils import import_modules_from_strings
    import_modules_from_strings(**cfg.custom_imports)
    init_default_scope(cfg.default_scope)
    registry = importlib.import_module(registry_module).MODELS
    model = registry.build(cfg.model)
    model.init_weights()
    return model


@pytest.mark.parametrize('backbone_type', ['SwiftFormer', 'mmdet.SwiftFormer'])
def test_mask_rcnn_loss_and_predict(tmp_path, backbone_type):
    from mmdet.testing import demo_mm_inputs
    cfg = user_config(tmp_path, 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
                      backbone_type)
    model = build(cfg, 'mmdet.registry')
    assert type(model.backbone).__name__ == 'SwiftFormer'
    packed = demo_mm_inputs(2, [[3, 128, 160], [3, 96, 128]], num_items=[3, 2],
                            num_classes=80, with_mask=True)
    data = model.data_preprocessor(packed, True)
    model.train()
    losses = model(**data, mode='loss')
    total, _ = model.parse_losses(losses)
    assert torch.isfinite(total) and total > 0
    total.backward()
    assert model.backbone.network[0][0].pwconv1.weight.grad is not None
    model.eval()
    with torch.no_grad():
        results = model(**model.data_preprocessor(packed, False),
                        mode='predict')
    assert len(results) == 2
    assert {'bboxes', 'scores', 'labels', 'masks'} <= set(
        results[0].pred_instances.keys())


SEM_FPN = 'mmseg::sem_fpn/fpn_r50_4xb4-160k_ade20k-512x512.py'


def test_resnet_pretrained_of_mmseg_base_is_refused(tmp_path):
    cfg = user_config(tmp_path, SEM_FPN, 'SwiftFormer')
    with pytest.raises(ValueError, match='set model.pretrained=None'):
        build(cfg, 'mmseg.registry')


def _seg_batch(shapes, num_classes=150):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    inputs, samples = [], []
    gen = torch.Generator().manual_seed(0)
    for h, w in shapes:
        inputs.append(torch.randint(0, 256, (3, h, w), generator=gen,
                                    dtype=torch.uint8))
        sample = SegDataSample(metainfo=dict(img_shape=(h, w),
                                             ori_shape=(h, w),
                                             pad_shape=(h, w)))
        sample.gt_sem_seg = PixelData(data=torch.randint(
            0, num_classes, (1, h, w), generator=gen))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


@pytest.mark.parametrize('backbone_type', ['SwiftFormer', 'mmseg.SwiftFormer'])
def test_semantic_fpn_loss_and_predict(tmp_path, backbone_type):
    # mmseg's ResNet base names ResNet weights in model.pretrained
    cfg = user_config(tmp_path, SEM_FPN, backbone_type, 'pretrained=None,')
    # SyncBN needs a process group; a single CPU process uses BN.
    cfg.model.decode_head.norm_cfg = dict(type='BN', requires_grad=True)
    cfg.model.data_preprocessor.size = (128, 128)
    model = build(cfg, 'mmseg.registry')
    assert type(model.backbone).__name__ == 'SwiftFormer'
    batch = _seg_batch([(128, 128), (128, 128)])
    model.train()
    losses = model(**model.data_preprocessor(batch, True), mode='loss')
    total, _ = model.parse_losses(losses)
    assert torch.isfinite(total) and total > 0
    total.backward()
    model.eval()
    with torch.no_grad():
        results = model(**model.data_preprocessor(_seg_batch([(96, 112)]),
                                                  False), mode='predict')
    assert results[0].pred_sem_seg.data.shape == (1, 96, 112)
