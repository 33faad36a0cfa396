"""Every head family of the README's table, deployed with dynamic shapes
to ONNX Runtime and to OpenVINO, gives what mmdet / mmseg give, at the level
users see: detections and class maps.

Each model (SwiftFormer-XS, weights of :func:`build`) is exported through
the project's own path (:func:`swiftformer_mm.export.pipeline.export`) on
one image and run on images of two other sizes, none a multiple of 32, as
one batch of 2 (so the host pads one image of the pair and the graph pads
both), against the library's own ``test_step`` on the same checkpoint:

* segmentors (Semantic FPN, UPerNet, FCN, DeepLabV3+): the class map of every
  pixel equals mmseg's;
* detectors (RetinaNet, FCOS, Faster R-CNN, Mask R-CNN with masks, DINO,
  Deformable DETR): every detection scoring at least :data:`SCORE` on
  either side has one of the same label on the other with box IoU >= 0.99
  and a score within 1e-3 (masks: IoU >= 0.99, or a mask of a few dozen
  pixels off by at most two pixels on its edge, none inside or outside).

The weights are random but give real detections: every layer gets
non-trivial values and the classifiers' biases are raised
(:func:`build`), so that a few dozen boxes per image score well above the
threshold and apart from each other; fresh heads predict background
everywhere, and there would be nothing to compare.

The ExecuTorch split Mask R-CNN and INT8 models: tests/test_int8_executorch.py.
On the code before this test, the Semantic FPN graph kept its export size
(0.08-0.17 of the logit scale off elsewhere) and UPerNet's pooling was off
by 1e-2 at every size.
"""
import copy
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

from conftest import EXECUTORCH, randomize_
from swiftformer_mm.export import pipeline
from swiftformer_mm.export.compare import match_detections
from test_deployment import STANDARD_OPS, op_types, write_image
from test_head_families import XS, user_config

# Whole exports: out of the fast lane; the oldest stack runs them too.
pytestmark = [pytest.mark.slow, pytest.mark.stacks]

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEPLOY = osp.join(ROOT, 'configs/deploy')
RUNTIMES = ['onnxruntime', 'openvino']
EXPORT_SIZE = (120, 160)
SIZES = [(97, 203), (161, 118)]  # (h, w) of the images compared
BN = dict(type='BN', requires_grad=True)
SCORE = 0.3  # detections compared: those scoring at least this
IOU, SCORE_DIFF, MASK_IOU = 0.99, 1e-3, 0.99
MASK_EDGE_PIXELS = 2  # see assert_detections_equal
TIE = 1e-5  # of the logit scale: segmentation pixels this close to a tie

SEG = {
    'semantic_fpn': (osp.join(ROOT, 'configs/segmentation/'
                              'semantic_fpn_swiftformer_xs_demo.py'), None),
    'upernet': ('mmseg::upernet/upernet_r50_4xb4-80k_ade20k-512x512.py',
                dict(decode_head=dict(in_channels=XS, channels=32,
                                      norm_cfg=BN, num_classes=6),
                     auxiliary_head=dict(in_channels=XS[2], channels=16,
                                         norm_cfg=BN, num_classes=6))),
    'fcn': ('mmseg::fcn/fcn_r50-d8_4xb4-80k_ade20k-512x512.py',
            dict(decode_head=dict(in_channels=XS[3], channels=32,
                                  norm_cfg=BN, num_classes=6),
                 auxiliary_head=dict(in_channels=XS[2], channels=16,
                                     norm_cfg=BN, num_classes=6))),
    'deeplabv3plus': (
        'mmseg::deeplabv3plus/deeplabv3plus_r50-d8_4xb4-80k_ade20k-512x512.py',
        dict(decode_head=dict(in_channels=XS[3], channels=32,
                              c1_in_channels=XS[0], c1_channels=8,
                              norm_cfg=BN, num_classes=6),
             auxiliary_head=dict(in_channels=XS[2], channels=16,
                                 norm_cfg=BN, num_classes=6))),
}
SMALL_NECK = dict(neck=dict(in_channels=XS, out_channels=32))
# One encoder and one decoder layer: the same ops as six, exported faster.
ONE_LAYER = dict(encoder=dict(num_layers=1), decoder=dict(num_layers=1),
                 num_queries=30, test_cfg=dict(max_per_img=30))
DET = {
    'retinanet': ('mmdet::retinanet/retinanet_r50_fpn_1x_coco.py', dict(
        SMALL_NECK, bbox_head=dict(in_channels=32, feat_channels=32,
                                   num_classes=3))),
    'fcos': ('mmdet::fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py', dict(
        SMALL_NECK, bbox_head=dict(in_channels=32, feat_channels=32,
                                   num_classes=3))),
    'faster_rcnn': ('mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py', dict(
        SMALL_NECK, rpn_head=dict(in_channels=32, feat_channels=32),
        roi_head=dict(bbox_roi_extractor=dict(out_channels=32),
                      bbox_head=dict(in_channels=32, fc_out_channels=64,
                                     num_classes=3)))),
    'mask_rcnn': (osp.join(ROOT, 'configs/detection/'
                           'mask_rcnn_swiftformer_xs_demo.py'), None),
    'dino': ('mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py', dict(
        ONE_LAYER, backbone=dict(out_indices=(1, 2, 3)),
        neck=dict(in_channels=XS[1:]), bbox_head=dict(num_classes=3))),
    'deformable_detr': (
        'mmdet::deformable_detr/deformable-detr_r50_16xb2-50e_coco.py', dict(
            ONE_LAYER, backbone=dict(out_indices=(1, 2, 3)),
            neck=dict(in_channels=XS[1:]), bbox_head=dict(num_classes=3))),
}


def small_test_pipeline(cfg: Config, scale=(224, 224)) -> Config:
    """Test images resized to at most ``scale`` (keep ratio), not 1333x800
    or 2048x512: the sizes under test come from the images."""
    for step in cfg.test_dataloader.dataset.pipeline:
        if step['type'] in ('Resize', 'RandomResize') and 'scale' in step:
            step['scale'] = scale
    cfg.test_pipeline = cfg.test_dataloader.dataset.pipeline
    return cfg


def family_config(tmp_path, table, family) -> Config:
    base, overrides = table[family]
    if overrides is None:  # a config of ours
        cfg = Config.fromfile(base)
    else:
        extra = 'model.update(pretrained=None)' if 'mmseg' in base else ''
        cfg = user_config(tmp_path, base, 'SwiftFormer', overrides, extra)
    cfg.model.backbone.init_cfg = None
    if cfg.default_scope == 'mmseg':
        cfg.model.backbone.norm_cfg = BN
        cfg.model.decode_head.norm_cfg = BN
        cfg.model.data_preprocessor.pop('size', None)
    return small_test_pipeline(cfg)


#: (scale, bias) of the classification layers after :func:`randomize_`:
#: their weights are scaled, their biases set (a softmax's background keeps
#: 0). Chosen per family for logits of moderate size (no sigmoid saturated to
#: exactly 1.0, which would tie) and a few to a few dozen detections per
#: image scoring above :data:`SCORE`, not so many that they crowd one another
#: out at the top-k cuts.
CLASS_INIT = dict(default=(4., -7.), dino=(4., -6.), retinanet=(4., -6.5),
                  fcos=(4., -8.), faster_rcnn=(2., -12.),
                  deformable_detr=(4., -5.))
CLASS_LAYERS = ('rpn_cls', 'conv_cls', 'retina_cls', 'fc_cls')


def build(cfg: Config, path, family: str = 'default') -> str:
    """A checkpoint of the model of ``cfg`` with non-trivial random weights
    whose heads find things (:data:`CLASS_INIT`)."""
    from mmengine.registry import init_default_scope
    init_default_scope(cfg.default_scope)
    registry = __import__(f'{cfg.default_scope}.registry',
                          fromlist=['MODELS']).MODELS
    torch.manual_seed(0)
    model = registry.build(copy.deepcopy(cfg.model))  # DETRs edit theirs
    # DETRs' level_embed is torch.Tensor(...) until init_weights: memory
    # left by earlier tests (other weights, other detections, once NaN)
    model.init_weights()
    randomize_(model, 0)
    scale, bias = CLASS_INIT.get(family, CLASS_INIT['default'])
    with torch.no_grad():
        for name, module in model.named_modules():
            leaf = name.rsplit('.', 1)[-1]
            if leaf in CLASS_LAYERS or ('cls_branches' in name
                                        and leaf.isdigit()):
                module.weight *= scale
                module.bias.fill_(bias)
                if leaf == 'fc_cls':  # softmax: the background's stays 0
                    module.bias[-1] = 0
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, str(path))
    return str(path)


def assert_standard_and_fused(onnx_file):
    """ONNX's own ops only (no custom domain, no ReduceL2, which mobile
    runtimes lack), and the fused backbone (no layer scale left)."""
    ops, initializers = op_types(onnx_file)
    assert ops <= STANDARD_OPS, ops - STANDARD_OPS
    assert not any('layer_scale' in name for name in initializers)


def record(family, runtime, size, figures, batch=2):
    """``RECORD_PARITY=1 bash tools/run_tests.sh -k deploy_families`` keeps
    each comparison (one line per family, runtime and size) in
    docs/records/parity.jsonl (docs/deployment.md's parity table). Not
    ``RECORD=1``: a whole suite recorded for its time would change the
    records that tests/test_docs.py checks the docs against while it runs."""
    if os.environ.get('RECORD_PARITY') == '1':
        from swiftformer_mm.analysis import records
        key = dict(family=family, runtime=runtime,
                   size=f'{size[0]}x{size[1]}', batch=batch)
        records.append('parity', key, figures,
                       command='RECORD_PARITY=1 bash tools/run_tests.sh -k '
                       'deploy_families')


def record_detections(family, runtime, size, per_image, batch=2):
    """:func:`record` the comparisons of the images of one size together."""
    combined = dict(images=len(per_image))
    for key in per_image[0]:
        values = [stats[key] for stats in per_image]
        combined[key] = (min(values) if key.startswith('min_') else
                         max(values) if key.startswith('max_') else
                         sum(values))
    record(family, runtime, size, combined, batch)


def deploy_and_predict(tmp_path, cfg, family, deploy_name, images,
                       reference_batch_size=None):
    """Export on one image, then ``[(the library's prediction, the deployed
    model's)]`` on ``images``, two at a time (the library:
    ``reference_batch_size`` at a time)."""
    ckpt = build(cfg, tmp_path / 'model.pth', family)
    image = write_image(tmp_path / 'export.png', *EXPORT_SIZE)
    deploy_cfg = osp.join(DEPLOY, deploy_name)
    files = pipeline.export(deploy_cfg, cfg, ckpt, image,
                            str(tmp_path / 'deployed'))
    if files[0].endswith('.onnx'):
        assert_standard_and_fused(files[0])
    return pipeline.predict_both(deploy_cfg, cfg, ckpt, files, images,
                                 batch_size=2,
                                 reference_batch_size=reference_batch_size)


def images_of_sizes(tmp_path, per_size=1):
    """``per_size`` images of each size of :data:`SIZES`, in that order."""
    return [write_image(tmp_path / f'{h}x{w}_{i}.png', h, w, seed=10 * k + i)
            for k, (h, w) in enumerate(SIZES) for i in range(per_size)]


@pytest.mark.parametrize('runtime', RUNTIMES)
@pytest.mark.parametrize('family', sorted(SEG))
def test_segmentor_labels_equal_mmseg(tmp_path, family, runtime):
    # mmseg batches images of one size only: two of each size
    cfg = family_config(tmp_path, SEG, family)
    pairs = deploy_and_predict(tmp_path, cfg, family,
                               f'segmentation_{runtime}_dynamic.py',
                               images_of_sizes(tmp_path, per_size=2))
    for (h, w), batch in zip(SIZES, (pairs[:2], pairs[2:]), strict=True):
        equal = ties = 0
        for ours, theirs in batch:
            assert theirs['sem_seg'].shape == ours['sem_seg'].shape \
                == (1, h, w)
            same = theirs['sem_seg'] == ours['sem_seg']
            # a pixel whose two best classes are within float rounding of
            # each other may go either way (even between batch sizes in
            # PyTorch); every other pixel must have mmseg's label
            tie = ours['margin'][None] < TIE * ours['logit_scale']
            assert (same | tie).all(), (h, w, np.argwhere(~same & ~tie))
            equal += same.mean() / 2
            ties += tie.sum()
        print(f'{family} {runtime} {h}x{w}: {equal:.6f} of the pixels equal,'
              f' {ties} within float rounding of a tie')
        record(family, runtime, (h, w), dict(
            pixels_equal=float(equal), tie_pixels=int(ties),
            images=len(batch)))
        assert ties <= 1e-3 * 2 * h * w, f'{ties} near-ties: weights too ' \
            'uniform for the labels to say anything'


def assert_detections_equal(family, runtime, size, ours, theirs):
    found = match_detections(ours, theirs, SCORE, IOU)
    extra = match_detections(theirs, ours, SCORE, IOU)
    h, w = size
    print(f'{family} {runtime} {h}x{w}: {found}; deployed ones matched in '
          f'mmdet: {extra["matched"]}/{extra["total"]}')
    assert found['total'] >= 3, f'too few detections to compare: {found}'
    assert found['matched'] == found['total'], found
    assert extra['matched'] == extra['total'], extra
    assert found['max_score_diff'] <= SCORE_DIFF, found
    if 'masks' in ours:
        assert theirs['masks'].shape[1:] == (h, w)
        assert_masks_equal(found)
    return dict(found, deployed_matched=extra['matched'],
                deployed_total=extra['total'])


def assert_masks_equal(found):
    """The masks of the detections :func:`~swiftformer_mm.export.compare.
    match_detections` matched are equal, up to what float rounding moves."""
    # A mask of a few dozen pixels is below IoU 0.99 with one pixel
    # flipped: box corners 2e-4 to 8e-4 of a pixel apart move the edge
    # of a mask pasted at 0.5 by a pixel (seen on AVX2: one pixel off in
    # masks of 21, 74 and 4528 pixels, each beside the box's border).
    # Such a mask may differ by MASK_EDGE_PIXELS on its edge; none may
    # differ inside or outside it.
    assert found['min_mask_iou'] >= MASK_IOU or \
        found['max_mask_pixels_diff'] <= MASK_EDGE_PIXELS, found
    # Off the edge, only a single flipped pixel in a mask: with random
    # weights a mask's probabilities may sit at the 0.5 threshold inside
    # it too (seen on an Intel Xeon, Emerald Rapids: one pixel of a
    # 22-pixel mask, two pixels from its edge, in ONNX Runtime and in
    # OpenVINO alike). A shifted or misplaced mask differs by many.
    assert found['max_mask_pixels_off_edge'] == 0 or \
        found['max_mask_pixels_diff'] == 1, found


@pytest.mark.parametrize('runtime', RUNTIMES)
@pytest.mark.parametrize('family', sorted(DET))
def test_detections_equal_mmdet(tmp_path, family, runtime):
    """Batches of two images of one size: the graph pads both."""
    cfg = family_config(tmp_path, DET, family)
    task = 'instance-seg' if 'mask' in family else 'detection'
    pairs = deploy_and_predict(tmp_path, cfg, family,
                               f'{task}_{runtime}_dynamic.py',
                               images_of_sizes(tmp_path, per_size=2))
    for size, batch in zip(SIZES, (pairs[:2], pairs[2:]), strict=True):
        record_detections(family, runtime, size, [
            assert_detections_equal(family, runtime, size, ours, theirs)
            for ours, theirs in batch])


@pytest.mark.parametrize('family', ['faster_rcnn', 'dino'])
def test_a_batch_of_two_sizes_gives_each_images_detections(tmp_path,
                                                           family):
    """Two sizes in one batch: mmdet would compute the smaller image at the
    larger's padded size; the deployed model computes each image at its own
    size, as mmdet does one image (mmdeploy_compat, 6.)."""
    cfg = family_config(tmp_path, DET, family)
    pairs = deploy_and_predict(tmp_path, cfg, family,
                               'detection_onnxruntime_dynamic.py',
                               images_of_sizes(tmp_path),
                               reference_batch_size=1)
    for size, (ours, theirs) in zip(SIZES, pairs, strict=True):
        record_detections(family, 'onnxruntime', size, [
            assert_detections_equal(family, 'onnxruntime', size, ours,
                                    theirs)], batch='2 (two sizes)')


# ------------------------------------------------ the split Mask R-CNN
@pytest.fixture(scope='module')
def mask_rcnn(tmp_path_factory):
    """The demo Mask R-CNN config on a generated training set, with the
    weights of :func:`build`."""
    from swiftformer_mm.demo_data import coco
    tmp = tmp_path_factory.mktemp('mask_rcnn')
    coco.generate(str(tmp / 'coco'), num_train=8, num_val=1,
                  image_size=(128, 160))
    cfg = family_config(tmp, DET, 'mask_rcnn')
    cfg.merge_from_dict({'train_dataloader.dataset.data_root':
                         str(tmp / 'coco') + '/'})
    cfg.test_dataloader.dataset.data_root = str(tmp / 'no_test_set')
    return cfg, build(cfg, tmp / 'model.pth', 'mask_rcnn'), \
        write_image(tmp / 'export.png', *EXPORT_SIZE), images_of_sizes(tmp), tmp


@pytest.mark.skipif(not EXECUTORCH, reason='ExecuTorch needs torch >= 2.13 '
                    f'and is not installed with torch {torch.__version__}')
def test_executorch_split_mask_rcnn_detections_equal_mmdet(mask_rcnn):
    """The programs (features, box head, mask head) with anchors, NMS and
    RoIAlign on the host, image by image (the programs take one image)."""
    cfg, ckpt, image, images, tmp = mask_rcnn
    deploy_cfg = osp.join(DEPLOY, 'instance-seg_executorch.py')
    files = pipeline.export(deploy_cfg, cfg, ckpt, image,
                            str(tmp / 'executorch'), sizes=SIZES)
    pairs = pipeline.predict_both(deploy_cfg, cfg, ckpt, files, images)
    for size, (ours, theirs) in zip(SIZES, pairs, strict=True):
        record_detections('mask_rcnn', 'executorch', size, [
            assert_detections_equal('mask_rcnn', 'executorch', size, ours,
                                    theirs)], batch=1)

