"""Bad inputs give early errors that name the problem and the fix."""
import json

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

from reliability_helpers import ROOT
from swiftformer_mm import SwiftFormer
from swiftformer_mm.inputs import ImageError, load_image, load_rgb_image
from swiftformer_mm.utils import check_num_classes

DET_DEMO = f'{ROOT}/configs/detection/mask_rcnn_swiftformer_xs_demo.py'


@pytest.mark.parametrize('size', [(31, 64), (64, 16)])
def test_backbone_refuses_inputs_below_total_stride(size):
    model = SwiftFormer('xs').eval()
    with pytest.raises(ValueError, match=r'at least 32x32 pixels .*Resize or '
                       'pad'):
        model(torch.zeros(1, 3, *size))
    assert len(model(torch.zeros(1, 3, 32, 32))) == 4


def test_grayscale_rgba_and_16bit_images_are_converted(tmp_path):
    gray = np.tile(np.arange(64, dtype=np.uint8)[None] * 4, (48, 1))
    cv2.imwrite(str(tmp_path / 'gray.png'), gray)
    img = load_image(str(tmp_path / 'gray.png'))
    assert img.shape == (48, 64, 3) and img.dtype == np.uint8
    assert (img == gray[..., None]).all()
    bgra = np.zeros((40, 40, 4), np.uint8)
    bgra[..., 0] = 200  # blue
    bgra[:20, :, 3] = 255  # top half opaque, bottom half transparent
    cv2.imwrite(str(tmp_path / 'rgba.png'), bgra)
    rgb = load_rgb_image(str(tmp_path / 'rgba.png'))
    assert rgb.shape == (40, 40, 3)
    assert (rgb[0, 0] == [0, 0, 200]).all()  # RGB order, opaque blue
    assert (rgb[-1, -1] == 255).all()  # transparent -> white background
    deep = (np.arange(40 * 40, dtype=np.uint16).reshape(40, 40) * 40)
    cv2.imwrite(str(tmp_path / 'deep.png'), deep)
    assert load_image(str(tmp_path / 'deep.png')).dtype == np.uint8


def test_bad_image_files_are_refused_clearly(tmp_path):
    cv2.imwrite(str(tmp_path / 'tiny.png'), np.zeros((20, 300, 3), np.uint8))
    with pytest.raises(ImageError, match='is 300x20 pixels; SwiftFormer needs '
                       'at least 32x32'):
        load_image(str(tmp_path / 'tiny.png'))
    (tmp_path / 'notes.png').write_text('not an image')
    with pytest.raises(ImageError, match='not an image OpenCV can read'):
        load_image(str(tmp_path / 'notes.png'))
    with pytest.raises(FileNotFoundError, match='image not found'):
        load_image(str(tmp_path / 'missing.png'))


def test_class_count_mismatch_is_detected_before_building():
    cfg = Config.fromfile(DET_DEMO)
    check_num_classes(cfg, 'mmdet')  # the demo config is consistent
    cfg.model.roi_head.mask_head.num_classes = 80
    with pytest.raises(ValueError, match=r'model.roi_head.mask_head.'
                       r'num_classes=80, but train_dataloader.dataset has 3 '
                       r"classes \['circle', 'triangle', 'square'\]. Set "
                       'num_classes=3'):
        check_num_classes(cfg, 'mmdet')
    # no metainfo: the dataset class's own classes (COCO: 80)
    cfg = Config.fromfile(DET_DEMO)
    for split in ('train_dataloader', 'test_dataloader'):
        cfg[split].dataset.pop('metainfo')
    with pytest.raises(ValueError, match='has 80 classes'):
        check_num_classes(cfg, 'mmdet')


def test_class_count_mismatch_mmseg():
    cfg = Config(dict(
        model=dict(decode_head=dict(num_classes=150)),
        train_dataloader=dict(dataset=dict(type='RepeatDataset', dataset=dict(
            type='ADE20KDataset', metainfo=dict(classes=('a', 'b', 'c')))))))
    with pytest.raises(ValueError, match='decode_head.num_classes=150, but '
                       'train_dataloader.dataset has 3 classes'):
        check_num_classes(cfg, 'mmseg')


def test_tools_test_missing_checkpoint_is_clear(tmp_path):
    from reliability_helpers import run_tool
    proc = run_tool('test.py', DET_DEMO, str(tmp_path / 'none.pth'),
                    check=False)
    assert proc.returncode != 0
    assert 'checkpoint not found' in proc.stderr
    assert 'none.pth' in proc.stderr
