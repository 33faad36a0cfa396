# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""mmdeploy rewrites that make exported models compute what mmdet and mmseg
compute, at every input size. They are registered in mmdeploy's rewriter
registry on import of this module, and active only while
:func:`~.mmdeploy_compat.mmdeploy_patched` is (the :class:`Deploying`
checker); outside it, and in any other process, mmdeploy behaves as
shipped.

What each one fixes (mmdeploy 1.3.1, mmseg 1.2, mmdet 3.3):

1. mmseg's ``Upsample`` computes its output size with ``int()`` on the input
   shape, which TorchScript tracing records as constants: a "dynamic"
   Semantic FPN export computes with the export image's sizes at every other
   size. Here the size stays traced.
2. mmdeploy exports ``adaptive_avg_pool2d`` (UPerNet's PPM) as an
   ``AveragePool`` whose kernel is fixed from the export input and is wrong
   when the map is not a multiple of the output size, even at the export
   size. Here it is PyTorch's bins as two small averaging matrices built from
   the traced sizes (standard ops, exact at every size).
3. A segmentation graph that ends at the decode head's logits
   (``codebase_config.resize_to_input=False``): the resize to the image and
   the argmax run on the host in mmseg's order
   (:func:`~.seg_postprocess.logits_to_labels`), without a full-resolution
   150-channel tensor in the graph.
4. mmdeploy's detectors take the input as padded by the host and clip
   boxes to that padded size; mmdet clips them to the image without its
   padding. Here the graph takes the unpadded image and pads it itself
   (``DetDataPreprocessor``'s ``pad_size_divisor`` and ``pad_value``), so it
   knows both (:func:`~.task.deployed_preprocessor_cfg` leaves the padding to
   the graph).
5. mmdeploy's RPN runs one NMS over the proposals of all levels and keeps
   zero-size boxes; mmdet runs NMS per level (``batched_nms`` with the level
   as the class) after dropping boxes of size <= ``min_bbox_size``. Here the
   graph does what mmdet does, with mmcv's own offset trick.
6. mmdeploy's RoI box head keeps, per RoI, only the box regressed for its
   top class and uses it for every class; mmdet's ``multiclass_nms`` uses
   each class's own box. Here every (RoI, class) pair is a candidate, as in
   mmdet, and the zero-size rows mmdeploy pads proposal lists with score 0.
7. mmdeploy's DETR head picks each image's boxes with an offset of
   ``max_per_img`` instead of the number of queries: every image after the
   first of a batch gets wrong boxes, and fewer candidates than
   ``max_per_img`` fail. Here it selects per image, as mmdet does.
8. mmdeploy writes ``grid_sample`` (deformable attention of DINO and
   Deformable DETR) as its own ``mmdeploy::grid_sampler``, which only its
   custom-op library runs. At opset >= 16 it is ONNX's ``GridSample``.
9. mmdeploy's one-stage heads (RetinaNet, FCOS, ...) take each level's best
   priors by score times the score factor (FCOS's centerness) and threshold
   that product; mmdet takes the best (prior, class) pairs by class score,
   thresholds the class score, and multiplies by the factor after. FCOS then
   gave detections mmdet does not. Here the graph does what mmdet does.
"""
import torch
import torch.nn.functional as F
from mmdeploy.core import FUNCTION_REWRITER, SYMBOLIC_REWRITER
from mmdeploy.core.rewriters.rewriter_utils import Checker
from mmdeploy.utils import get_codebase_config
from torch.nn.modules.utils import _pair


class Deploying(Checker):
    """Valid while swiftformer_mm deploys (set by ``mmdeploy_patched``)."""

    active = False

    def check(self, env) -> bool:
        return Deploying.active


def _ours(func_name: str, **kwargs):
    return FUNCTION_REWRITER.register_rewriter(
        func_name, extra_checkers=[Deploying()], **kwargs)


# -------------------------------------------------------------- 1. Upsample
@_ours('mmseg.models.utils.wrappers.Upsample.forward')
def upsample__forward__traced_size(self, x):
    from mmseg.models.utils import resize
    if self.size:
        return resize(x, self.size, None, self.mode, self.align_corners)
    factors = self.scale_factor if isinstance(
        self.scale_factor, tuple) else (self.scale_factor, ) * 2
    # int(t * s) == floor(t * s) for t > 0, kept as traced tensors
    size = [torch.floor(t * s).to(torch.int64)
            for t, s in zip(x.shape[-2:], factors)]
    return resize(x, size, None, self.mode, self.align_corners)


# ------------------------------------------------ 2. adaptive average pooling
def _pool_matrix(length, out: int, dtype, device):
    """(out, length) averaging matrix of PyTorch's adaptive-pooling bins,
    ``[floor(i * L / o), ceil((i + 1) * L / o))``; ``length`` may be a
    traced size."""
    i = torch.arange(out, device=device)
    start = torch.div(i * length, out, rounding_mode='floor')
    end = torch.div((i + 1) * length + out - 1, out, rounding_mode='floor')
    pos = torch.arange(length, device=device)
    inside = (pos[None] >= start[:, None]) & (pos[None] < end[:, None])
    inside = inside.to(dtype)
    return inside / inside.sum(1, keepdim=True)


@_ours('torch.nn.functional.adaptive_avg_pool2d')
def adaptive_avg_pool2d__exact(input, output_size):  # noqa: A002
    ctx = FUNCTION_REWRITER.get_context()
    out_h, out_w = _pair(output_size)
    if out_h == out_w == 1:
        return ctx.origin_func(input, output_size)  # GlobalAveragePool
    h, w = input.shape[-2:]
    rows = _pool_matrix(h, out_h, input.dtype, input.device)
    cols = _pool_matrix(w, out_w, input.dtype, input.device)
    return torch.matmul(torch.matmul(rows, input), cols.t())


# ------------------------------------------- 3. segmentation logits at 1/4
@_ours('mmseg.models.segmentors.EncoderDecoder.predict')
def encoder_decoder__predict__logits(self, inputs, data_samples, **kwargs):
    ctx = FUNCTION_REWRITER.get_context()
    if get_codebase_config(ctx.cfg).get('resize_to_input', True):
        # mmdeploy's own rewrite, which this one replaces in the registry
        # (the origin is mmseg's predict, which returns data samples): the
        # decode head's logits resized to the input
        from mmdeploy.codebase.mmseg.models.segmentors.encoder_decoder \
            import encoder_decoder__predict
        return encoder_decoder__predict(self, inputs, data_samples, **kwargs)
    return self.decode_head.forward(self.extract_feat(inputs))


# ----------------------------------------------- 4. padding in the graph
@_ours('mmdet.models.detectors.two_stage.TwoStageDetector.extract_feat')
@_ours('mmdet.models.detectors.single_stage.SingleStageDetector.extract_feat')
def detector__extract_feat__padded(self, batch_inputs):
    ctx = FUNCTION_REWRITER.get_context()
    divisor = getattr(self.data_preprocessor, 'pad_size_divisor', 1)
    if divisor > 1:
        h, w = batch_inputs.shape[-2:]
        batch_inputs = F.pad(
            batch_inputs,
            [0, (divisor - w % divisor) % divisor, 0,
             (divisor - h % divisor) % divisor],
            value=float(getattr(self.data_preprocessor, 'pad_value', 0)))
    return ctx.origin_func(self, batch_inputs)


# ------------------------------------------------------ 5. mmdet's RPN NMS
def _best(scores, k: int):
    """``(values, indices)`` of the ``k`` best of each row (all, sorted, for
    ``k <= 0``). The row is first extended by ``k`` zeros, so that ``k``
    stays ``k`` in a graph traced on a row of another length (tracing would
    freeze ``min(k, length)``; mmdeploy pads the same way); indices past
    the row point at those zeros, which :func:`_gather_rows` extends too."""
    if k <= 0:
        return scores.sort(dim=1, descending=True)
    return torch.cat([scores, scores.new_zeros(scores.shape[0], k)],
                     1).topk(k, dim=1)


def _gather_rows(x, index):
    """Rows ``index`` (B, K) of ``x`` (B, N, D), ``x`` extended by K zero
    rows for the indices :func:`_best` may give past its end."""
    x = torch.cat([x, x.new_zeros(x.shape[0], index.shape[1], x.shape[2])],
                  1)
    return x.gather(1, index[..., None].expand(-1, -1, x.shape[2]))


def _nms_keep(boxes, scores, valid, ids, max_num, iou_threshold,
              score_threshold):
    """mmcv's ``batched_nms`` on a batch: NMS within each id (boxes offset
    by ``id * (max coordinate + 1)``, the maximum taken over the valid
    boxes of each image), keeping the ``max_num`` best of each image.

    Returns ``(dets, index)``: ``(N, K, 5)`` boxes and scores, sorted by
    score, rows past an image's detections zero; ``(N, K)`` indices into
    the candidates (0 for those rows).
    """
    from mmdeploy.mmcv.ops.nms import ONNXNMSop
    batch = scores.shape[0]
    scores = torch.where(valid, scores, scores.new_zeros(1))
    coords = torch.where(valid[..., None], boxes, boxes.new_zeros(1))
    max_coordinate = coords.flatten(1).max(dim=1)[0].view(batch, 1, 1)
    offsets = ids.to(boxes.dtype)[..., None] * (max_coordinate + 1)
    # (B, N, 4) spelt out: OpenVINO's NMS needs the 4 known when compiling
    selected = ONNXNMSop.apply(
        (boxes + offsets).reshape(batch, -1, 4), scores.unsqueeze(1), max_num,
        torch.tensor([iou_threshold], dtype=torch.float32),
        torch.tensor([score_threshold], dtype=torch.float32))
    batch_inds, box_inds = selected[:, 0], selected[:, 2]
    # one row per selection, in every image's slot; other images' zero.
    # (Invalid candidates score 0: ONNX's NMS drops them with a threshold
    # of 0, mmcv's, which PyTorch runs, only for thresholds above 0.)
    own = (batch_inds[None] == torch.arange(
        batch, device=scores.device)[:, None]) & valid[batch_inds,
                                                         box_inds][None]
    picked = torch.where(own, scores[batch_inds, box_inds][None],
                         scores.new_zeros(1))
    index = torch.where(own, box_inds[None], box_inds.new_zeros(1))
    # a zero row, so that no image has an empty list; then the best max_num
    picked = torch.cat([picked, picked.new_zeros(batch, 1)], 1)
    index = torch.cat([index, index.new_zeros(batch, 1)], 1)
    top, order = picked.topk(min(max_num, picked.shape[1]), dim=1)
    index = index.gather(1, order)
    rows = torch.arange(batch, device=scores.device)[:, None]
    dets = torch.cat([boxes[rows, index] * (top[..., None] > 0),
                      top[..., None]], -1)
    return dets, index


@_ours('mmdet.models.dense_heads.rpn_head.RPNHead.predict_by_feat')
def rpn_head__predict_by_feat__per_level(self, cls_scores, bbox_preds,
                                        score_factors=None,
                                        batch_img_metas=None, cfg=None,
                                        rescale=False, with_nms=True,
                                        **kwargs):
    ctx = FUNCTION_REWRITER.get_context()
    if not with_nms:
        return ctx.origin_func(self, cls_scores, bbox_preds, score_factors,
                               batch_img_metas, cfg, rescale, with_nms,
                               **kwargs)
    cfg = self.test_cfg if cfg is None else cfg
    batch = cls_scores[0].shape[0]
    anchors = self.anchor_generator.grid_anchors(
        [s.shape[-2:] for s in cls_scores], device=cls_scores[0].device)
    nms_pre = cfg.get('nms_pre', -1)
    level_boxes, level_scores, level_ids = [], [], []
    for level, (cls_score, bbox_pred, prior) in enumerate(
            zip(cls_scores, bbox_preds, anchors)):
        cls_score = cls_score.permute(0, 2, 3, 1)
        if self.use_sigmoid_cls:
            scores = cls_score.reshape(batch, -1).sigmoid()
        else:
            scores = cls_score.reshape(batch, -1, 2).softmax(-1)[..., 0]
        deltas = bbox_pred.permute(0, 2, 3, 1).reshape(
            batch, -1, self.bbox_coder.encode_size)
        prior = prior[None].expand(batch, -1, -1)
        if nms_pre > 0:  # the best nms_pre of each level, as mmdet
            scores, inds = _best(scores, nms_pre)
            deltas = _gather_rows(deltas, inds)
            prior = _gather_rows(prior, inds)
        level_boxes.append(self.bbox_coder.decode(
            prior, deltas, max_shape=batch_img_metas[0]['img_shape']))
        level_scores.append(scores)
        level_ids.append(torch.full_like(scores, level, dtype=torch.long))
    boxes = torch.cat(level_boxes, 1)
    scores = torch.cat(level_scores, 1)
    ids = torch.cat(level_ids, 1)
    valid = scores > 0  # every real one (a sigmoid); not _best's padding
    if cfg.get('min_bbox_size', -1) >= 0:
        w = boxes[..., 2] - boxes[..., 0]
        h = boxes[..., 3] - boxes[..., 1]
        valid = valid & (w > cfg.min_bbox_size) & (h > cfg.min_bbox_size)
    # no score threshold, as mmdet's RPN
    dets, _ = _nms_keep(boxes, scores, valid, ids, cfg.max_per_img,
                        cfg.nms.get('iou_threshold', 0.7), 0.)
    return dets, dets.new_zeros(dets.shape[:2], dtype=torch.long)


# ------------------------------------- 9. mmdet's one-stage dense heads
@_ours('mmdet.models.dense_heads.base_dense_head.BaseDenseHead.'
       'predict_by_feat')
def base_dense_head__predict_by_feat__mmdet_order(
        self, cls_scores, bbox_preds, score_factors=None,
        batch_img_metas=None, cfg=None, rescale=False, with_nms=True,
        **kwargs):
    ctx = FUNCTION_REWRITER.get_context()
    if not with_nms:
        return ctx.origin_func(self, cls_scores, bbox_preds, score_factors,
                               batch_img_metas, cfg, rescale, with_nms,
                               **kwargs)
    cfg = self.test_cfg if cfg is None else cfg
    batch = cls_scores[0].shape[0]
    num_classes = self.cls_out_channels
    priors = self.prior_generator.grid_priors(
        [s.shape[-2:] for s in cls_scores], dtype=bbox_preds[0].dtype,
        device=bbox_preds[0].device)
    nms_pre, thr = cfg.get('nms_pre', -1), cfg.get('score_thr', 0.)
    level_boxes, level_scores, level_labels, level_valid = [], [], [], []
    for level, (cls_score, bbox_pred, prior) in enumerate(
            zip(cls_scores, bbox_preds, priors)):
        scores = cls_score.permute(0, 2, 3, 1).reshape(batch, -1,
                                                       num_classes)
        scores = scores.sigmoid() if self.use_sigmoid_cls else \
            scores.softmax(-1)[..., :-1]
        # mmdet's filter_scores_and_topk: (prior, class) pairs above the
        # threshold, the best nms_pre of the level
        scores = scores.flatten(1)
        scores = torch.where(scores > thr, scores, scores.new_zeros(1))
        scores, inds = _best(scores, nms_pre)
        anchor = torch.div(inds, num_classes, rounding_mode='floor')
        deltas = _gather_rows(bbox_pred.permute(0, 2, 3, 1).reshape(
            batch, -1, self.bbox_coder.encode_size), anchor)
        prior = _gather_rows(prior[None].expand(batch, -1, -1), anchor)
        valid = scores > thr
        if score_factors is not None:  # multiplied after the threshold
            factor = _gather_rows(score_factors[level].permute(
                0, 2, 3, 1).reshape(batch, -1, 1).sigmoid(), anchor)[..., 0]
            scores = scores * factor
        level_boxes.append(self.bbox_coder.decode(
            prior, deltas, max_shape=batch_img_metas[0]['img_shape']))
        level_scores.append(scores)
        level_labels.append(inds % num_classes)
        level_valid.append(valid)
    boxes = torch.cat(level_boxes, 1)
    scores = torch.cat(level_scores, 1)
    labels = torch.cat(level_labels, 1)
    valid = torch.cat(level_valid, 1)
    if cfg.get('min_bbox_size', -1) >= 0:
        w = boxes[..., 2] - boxes[..., 0]
        h = boxes[..., 3] - boxes[..., 1]
        valid = valid & (w > cfg.min_bbox_size) & (h > cfg.min_bbox_size)
    dets, index = _nms_keep(boxes, scores, valid, labels, cfg.max_per_img,
                            cfg.nms.get('iou_threshold', 0.5), 0.)
    return dets, labels.gather(1, index)


# ------------------------------------------------ 6. mmdet's RoI box NMS
@_ours('mmdet.models.roi_heads.bbox_heads.bbox_head.BBoxHead.predict_by_feat')
def bbox_head__predict_by_feat__per_class_boxes(self, rois, cls_scores,
                                               bbox_preds, batch_img_metas,
                                               rcnn_test_cfg=None,
                                               rescale=False):
    ctx = FUNCTION_REWRITER.get_context()
    if self.reg_class_agnostic or self.custom_cls_channels or \
            bbox_preds is None:
        return ctx.origin_func(self, rois, cls_scores, bbox_preds,
                               batch_img_metas, rcnn_test_cfg, rescale)
    batch, num_rois = rois.shape[:2]
    num_classes = self.num_classes
    scores = F.softmax(cls_scores, dim=-1)[..., :num_classes]
    # mmdeploy pads proposal lists with zero-size rows; mmdet has none
    roi_w = rois[..., 3] - rois[..., 1]
    roi_h = rois[..., 4] - rois[..., 2]
    scores = scores * ((roi_w > 0) & (roi_h > 0))[..., None].to(scores)
    priors = rois[..., None, 1:].expand(-1, -1, num_classes, -1)
    boxes = self.bbox_coder.decode(
        priors.reshape(batch, num_rois * num_classes, -1),
        bbox_preds.reshape(batch, num_rois * num_classes, -1),
        max_shape=batch_img_metas[0]['img_shape'])
    scores = scores.reshape(batch, num_rois * num_classes)
    labels = torch.arange(num_classes, device=scores.device).repeat(num_rois)
    labels = labels[None].expand(batch, -1)
    thr = rcnn_test_cfg.score_thr
    dets, index = _nms_keep(boxes, scores, scores > thr, labels,
                            rcnn_test_cfg.max_per_img,
                            rcnn_test_cfg.nms.get('iou_threshold', 0.5), thr)
    return dets, index % num_classes


# ------------------------------------------- 7. DETR heads, per image
@_ours('mmdet.models.dense_heads.DeformableDETRHead.predict_by_feat')
@_ours('mmdet.models.dense_heads.DETRHead.predict_by_feat')
def detr_head__predict_by_feat__per_image(self, all_cls_scores_list,
                                          all_bbox_preds_list,
                                          batch_img_metas, rescale=True):
    from mmdet.structures.bbox import bbox_cxcywh_to_xyxy
    cls_scores = all_cls_scores_list[-1]
    bbox_preds = all_bbox_preds_list[-1]
    max_per_img = self.test_cfg.get('max_per_img', cls_scores.shape[1])
    if self.loss_cls.use_sigmoid:
        scores, indexes = cls_scores.sigmoid().flatten(1).topk(max_per_img,
                                                               dim=1)
        labels = indexes % self.num_classes
        queries = torch.div(indexes, self.num_classes, rounding_mode='floor')
    else:
        scores, labels = F.softmax(cls_scores, dim=-1)[..., :-1].max(-1)
        scores, queries = scores.topk(max_per_img, dim=1)
        labels = labels.gather(1, queries)
    boxes = bbox_cxcywh_to_xyxy(bbox_preds.gather(
        1, queries[..., None].expand(-1, -1, 4)))
    h, w = batch_img_metas[0]['img_shape'][:2]
    size = torch.stack([w, h, w, h]).to(boxes) if isinstance(
        h, torch.Tensor) else boxes.new_tensor([w, h, w, h])
    boxes = torch.minimum((boxes * size).clamp(min=0), size)
    return torch.cat([boxes, scores[..., None]], -1), labels


# ---------------------------------------------- 8. grid_sample, standard op
@SYMBOLIC_REWRITER.register_symbolic('grid_sampler', is_pytorch=True,
                                     extra_checkers=[Deploying()])
def grid_sampler__onnx(g, input, grid, mode, padding_mode,  # noqa: A002
                       align_corners):
    from torch.onnx import symbolic_opset16
    return symbolic_opset16.grid_sampler(g, input, grid, mode, padding_mode,
                                         align_corners)
