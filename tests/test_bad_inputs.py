"""Bad inputs give early errors that name the problem and the fix."""
import json
import os

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

from conftest import run
from reliability_helpers import ROOT
from swiftformer_mm import SwiftFormer
from swiftformer_mm.inputs import ImageError, load_image, load_rgb_image
from swiftformer_mm.engine import check_num_classes

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


@pytest.mark.slow
def test_tools_test_missing_checkpoint_is_clear(tmp_path):
    proc = run('test.py', DET_DEMO, str(tmp_path / 'none.pth'), check=False)
    assert proc.returncode != 0
    assert 'checkpoint not found' in proc.stderr
    assert 'none.pth' in proc.stderr


# ------------------------------------------- COCO images without any object
def _coco_dataset(data_root, split, **overrides):
    """The detection demo config's dataset (its real pipeline) on
    ``data_root``."""
    from mmdet.registry import DATASETS
    from mmdet.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(DET_DEMO)
    loader = cfg.train_dataloader if split == 'train' else \
        cfg.test_dataloader
    dataset = dict(loader.dataset, data_root=str(data_root) + '/',
                   ann_file=f'annotations/instances_{split}.json',
                   data_prefix=dict(img=f'{split}/'), **overrides)
    return DATASETS.build(dataset)


@pytest.fixture(scope='module')
def coco_with_empty_image(tmp_path_factory):
    """The tiny demo COCO set; each split gets one image (id 1000) without
    annotations."""
    from reliability_helpers import make_coco
    data = tmp_path_factory.mktemp('empty_coco') / 'data'
    make_coco(str(data), num_train=4, num_val=2, empty_images=1)
    with open(data / 'annotations/instances_val.json') as f:
        val = json.load(f)
    assert 1000 in [img['id'] for img in val['images']]
    assert 1000 not in [ann['image_id'] for ann in val['annotations']]
    return data


def _perfect_predictions(ann_file, img_ids, cat_ids):
    """Model-free predictions: every annotated object, exactly (boxes and
    masks from the annotation file), with score 0.9."""
    from mmdet.datasets.api_wrappers import COCO
    coco = COCO(ann_file)
    preds = {}
    for img_id in img_ids:
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[img_id]))
        info = coco.loadImgs([img_id])[0]
        boxes = [[a['bbox'][0], a['bbox'][1], a['bbox'][0] + a['bbox'][2],
                  a['bbox'][1] + a['bbox'][3]] for a in anns]
        masks = [coco.annToMask(a) for a in anns]
        preds[img_id] = dict(
            bboxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            scores=torch.full((len(anns),), 0.9),
            labels=torch.tensor([cat_ids.index(a['category_id'])
                                 for a in anns], dtype=torch.long),
            masks=torch.from_numpy(np.array(masks, dtype=bool).reshape(
                -1, info['height'], info['width'])))
    return preds


def test_coco_val_image_without_objects_is_evaluated(coco_with_empty_image):
    """The image without annotations stays in the test set, goes through the
    test pipeline (empty ground truth), and counts in CocoMetric: a false
    positive on it lowers the AP."""
    from mmdet.evaluation import CocoMetric
    data = coco_with_empty_image
    dataset = _coco_dataset(data, 'val')
    img_ids = [dataset.get_data_info(i)['img_id'] for i in range(len(dataset))]
    assert sorted(img_ids) == [1, 2, 1000]  # test_mode: nothing filtered
    samples = [dataset[i]['data_samples'] for i in range(len(dataset))]
    empty = samples[img_ids.index(1000)]
    assert empty.gt_instances.bboxes.shape == (0, 4)
    assert len(empty.gt_instances.masks) == 0
    assert empty.ori_shape == (64, 64)

    ann_file = str(data / 'annotations/instances_val.json')
    preds = _perfect_predictions(ann_file, img_ids, list(dataset.cat_ids))
    assert len(preds[1000]['scores']) == 0

    def evaluate(preds):
        metric = CocoMetric(ann_file=ann_file, metric=['bbox', 'segm'])
        metric.dataset_meta = dataset.metainfo
        metric.process({}, [dict(img_id=s.img_id, ori_shape=s.ori_shape,
                                 pred_instances=preds[s.img_id])
                            for s in samples])
        return metric.evaluate(len(samples))

    perfect = evaluate(preds)
    assert perfect['coco/bbox_mAP'] == 1.0
    assert perfect['coco/segm_mAP'] == 1.0
    # a confident false positive on the empty image, of a class that occurs
    # elsewhere: it is ranked first and costs precision
    fp = {k: v[:1].clone() for k, v in preds[1].items()}
    fp['scores'][:] = 1.0
    with_fp = evaluate({**preds, 1000: fp})
    assert with_fp['coco/bbox_mAP'] < 0.9
    assert with_fp['coco/segm_mAP'] < 0.9


def test_coco_train_filters_or_keeps_images_without_objects(
        coco_with_empty_image):
    # the demo config inherits mmdet's filter_empty_gt=True for training
    assert len(_coco_dataset(coco_with_empty_image, 'train')) == 4
    kept = _coco_dataset(coco_with_empty_image, 'train',
                         filter_cfg=dict(filter_empty_gt=False, min_size=32))
    assert len(kept) == 5
    out = kept[[kept.get_data_info(i)['img_id'] for i in range(5)].index(
        1000)]
    assert out['data_samples'].gt_instances.bboxes.shape == (0, 4)


@pytest.mark.slow
def test_train_and_test_tools_with_images_without_objects(
        coco_with_empty_image, tmp_path):
    """Mask R-CNN trains on batches that include the object-free image
    (filter_empty_gt=False) and tools/test.py evaluates a val set that has
    one."""
    import pickle
    from reliability_helpers import logged_losses, write_tiny_det
    cfg = write_tiny_det(tmp_path, coco_with_empty_image)
    work = tmp_path / 'work'
    run('train.py', cfg, '--work-dir', str(work), '--cfg-options',
        'train_cfg.max_epochs=1',
        'train_dataloader.dataset.filter_cfg.filter_empty_gt=False',
        cwd=str(tmp_path), env=dict(OMP_NUM_THREADS='1'))
    losses = logged_losses(work)
    assert sorted(losses) == [1, 2, 3]  # 5 images in batches of 2
    assert all(np.isfinite(v) for v in losses.values())
    out = tmp_path / 'preds.pkl'
    proc = run('test.py', cfg, str(work / 'epoch_1.pth'), '--work-dir',
               str(tmp_path / 'test'), '--out', str(out),
               cwd=str(tmp_path), env=dict(OMP_NUM_THREADS='1'))
    assert 'coco/bbox_mAP' in proc.stdout + proc.stderr
    assert 'coco/segm_mAP' in proc.stdout + proc.stderr
    with open(out, 'rb') as f:
        preds = pickle.load(f)
    assert sorted(p['img_id'] for p in preds) == [1, 2, 1000]


def _random_checkpoint(config, path, classes):
    """A checkpoint of the config's model with random weights, as
    tools/train.py would save it (with the dataset's class names)."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    cfg = Config.fromfile(config)
    init_default_scope(cfg.default_scope)
    registry = __import__(f'{cfg.default_scope}.registry',
                          fromlist=['MODELS']).MODELS
    model = registry.build(cfg.model)
    palette = [[(37 * i) % 256, (91 * i) % 256, (151 * i) % 256]
               for i in range(len(classes))]
    torch.save({'state_dict': model.state_dict(),
                'meta': {'dataset_meta': {'classes': classes,
                                          'palette': palette}}}, path)


@pytest.mark.parametrize('tool, config, classes', [
    ('demo/det_image_demo.py',
     'configs/detection/mask_rcnn_swiftformer_xs_demo.py',
     ('circle', 'triangle', 'square')),
    ('demo/seg_image_demo.py',
     'configs/segmentation/semantic_fpn_swiftformer_xs_demo.py',
     ('building', 'sky', 'tree', 'road', 'grass', 'car')),
])
@pytest.mark.slow
def test_image_demo_tools_take_gray_and_rgba_refuse_tiny(tmp_path, tool,
                                                         config, classes):
    config = os.path.join(ROOT, config)
    _random_checkpoint(config, tmp_path / 'model.pth', classes)
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (72, 96, 3), dtype=np.uint8)
    gray = cv2.cvtColor(rgb, cv2.COLOR_BGR2GRAY)
    rgba = np.dstack([rgb, np.full((72, 96), 128, np.uint8)])
    cv2.imwrite(str(tmp_path / 'gray.png'), gray)
    cv2.imwrite(str(tmp_path / 'rgba.png'), rgba)
    cv2.imwrite(str(tmp_path / 'tiny.png'), rgb[:20, :24])

    def demo(image, out, check=True):
        return run(tool, str(tmp_path / image), config,
                   str(tmp_path / 'model.pth'),
                   *(['--out-dir', str(out)] if 'det' in tool else
                     ['--out', str(out)]),
                   env=dict(OMP_NUM_THREADS='1'), check=check)

    for image in ('gray.png', 'rgba.png'):
        out = tmp_path / f'out_{image}'
        demo(image, out)
        picture = cv2.imread(str(out / 'vis' / image) if 'det' in tool
                             else str(out))
        assert picture is not None and picture.shape == (72, 96, 3)
    proc = demo('tiny.png', tmp_path / 'out_tiny.png', check=False)
    assert proc.returncode != 0
    assert 'is 24x20 pixels; SwiftFormer needs at least 32x32' in proc.stderr


def test_executorch_on_an_older_torch_names_the_torch_it_needs(monkeypatch):
    """ExecuTorch 1.5 is built against torch 2.13: on the oldest stack
    (torch 2.1) a deploy to it stops before any work, naming both versions
    and what works there instead."""
    from swiftformer_mm.export.backends.executorch import ExecuTorchBackend
    from swiftformer_mm.export.errors import DeployError
    monkeypatch.setattr(torch, '__version__', '2.1.2+cu121')
    with pytest.raises(DeployError, match=r'ExecuTorch 1.5 needs torch >= '
                       r'2.13; this environment has torch 2.1.2\+cu121. '
                       'Deploy to ONNX Runtime or OpenVINO here'):
        ExecuTorchBackend.check_installed()
