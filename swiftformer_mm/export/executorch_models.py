# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""The models that run ExecuTorch programs on the host
(:class:`~.backends.executorch.Programs`), as mmdeploy's ``End2EndModel``
and ``PartitionTwoStageModel`` run a runtime's graphs: mmengine models with
the library's data preprocessor and ``test_step``, whose network is the
programs and whose other steps are the library's own calls, written out
here:

* :class:`ExecuTorchClassifier`: logits -> mmpretrain's scores and label;
* :class:`ExecuTorchSegmentor`: logits at 1/4 -> mmseg's resize and argmax
  (:func:`~.seg_postprocess.logits_to_labels`);
* :class:`ExecuTorchTwoStageDetector`: the ``features`` program (backbone,
  FPN, RPN convolutions) -> mmdet's proposals (anchors, NMS), RoIAlign, the
  ``bbox_head`` and ``mask_head`` programs -> mmdet's boxes and masks, in
  the order of mmdet's ``TwoStageDetector.predict`` and ``StandardRoIHead``.
"""
from typing import List

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel

from .seg_postprocess import logits_to_labels
from .task import pytorch_model


class ExecuTorchModel(BaseModel):
    """The host side of a task's programs.

    Args:
        model (nn.Module): the library's model built from the model config;
            its data preprocessor and post-processing steps are used, its
            network weights are not (the programs carry them).
        programs (Programs): the programs of a manifest.
    """

    def __init__(self, model: torch.nn.Module, programs):
        super().__init__(data_preprocessor=model.data_preprocessor)
        self.model = model
        self.programs = programs

    def forward(self, inputs, data_samples=None, mode: str = 'predict'):
        if mode != 'predict':
            raise ValueError(f'a deployed model only predicts, not {mode!r}')
        return self.predict(inputs, data_samples)

    def network(self, x: torch.Tensor) -> List[torch.Tensor]:
        """The image program(s) on the preprocessed batch ``x``."""
        raise NotImplementedError

    def predict(self, inputs, data_samples):
        raise NotImplementedError


class ExecuTorchClassifier(ExecuTorchModel):

    def network(self, x):
        return self.programs.image('classifier', x)

    def predict(self, inputs, data_samples):
        from mmpretrain.structures import DataSample
        scores = F.softmax(self.network(inputs)[0], dim=1)
        labels = scores.argmax(dim=1, keepdim=True)
        data_samples = data_samples or [DataSample() for _ in scores]
        for sample, score, label in zip(data_samples, scores, labels):
            sample.set_pred_score(score).set_pred_label(label)
        return data_samples


class ExecuTorchSegmentor(ExecuTorchModel):

    def network(self, x):
        return self.programs.image('segmentor', x)

    def predict(self, inputs, data_samples):
        from mmengine.structures import PixelData
        head = self.model.decode_head
        for logits, sample in zip(self.network(inputs)[0], data_samples):
            labels = logits_to_labels(
                logits, sample.metainfo, align_corners=head.align_corners,
                threshold=getattr(head, 'threshold', 0.3))
            sample.set_data(dict(pred_sem_seg=PixelData(data=labels)))
        return data_samples


class ExecuTorchTwoStageDetector(ExecuTorchModel):

    def network(self, x):
        return self.programs.image('features', x)

    def predict(self, inputs, data_samples, rescale: bool = True):
        detector = self.model
        levels = len(detector.rpn_head.prior_generator.strides)
        outs = self.network(inputs)
        feats = tuple(outs[:levels])
        metas = [sample.metainfo for sample in data_samples]
        proposals = detector.rpn_head.predict_by_feat(
            outs[levels:2 * levels], outs[2 * levels:], batch_img_metas=metas,
            rescale=False)
        roi_head = detector.roi_head
        results = self._predict_bbox(feats, metas, proposals,
                                     rescale and not roi_head.with_mask)
        if roi_head.with_mask:
            results = self._predict_mask(feats, metas, results, rescale)
        return detector.add_pred_to_datasample(data_samples, results)

    def _predict_bbox(self, feats, metas, proposals, rescale):
        """mmdet's ``StandardRoIHead.predict_bbox`` with the box head's
        network in its program."""
        from mmdet.models.utils import empty_instances
        from mmdet.structures.bbox import bbox2roi
        roi_head = self.model.roi_head
        head = roi_head.bbox_head
        boxes = [p.bboxes for p in proposals]
        rois = bbox2roi(boxes)
        if rois.shape[0] == 0:
            return empty_instances(
                metas, rois.device, task_type='bbox',
                box_type=head.predict_box_type, num_classes=head.num_classes,
                score_per_cls=roi_head.test_cfg is None)
        extractor = roi_head.bbox_roi_extractor
        roi_feats = extractor(feats[:extractor.num_inputs], rois)
        cls_scores, bbox_preds = self.programs.rois(
            'bbox_head', roi_feats,
            [(head.num_classes + 1, ), (4 * head.num_classes, )])
        per_image = tuple(len(b) for b in boxes)
        return head.predict_by_feat(
            rois=rois.split(per_image), cls_scores=cls_scores.split(per_image),
            bbox_preds=bbox_preds.split(per_image), batch_img_metas=metas,
            rcnn_test_cfg=roi_head.test_cfg, rescale=rescale)

    def _predict_mask(self, feats, metas, results, rescale):
        """mmdet's ``StandardRoIHead.predict_mask`` with the mask head's
        network in its program."""
        from mmdet.models.utils import empty_instances
        from mmdet.structures.bbox import bbox2roi
        roi_head = self.model.roi_head
        rois = bbox2roi([r.bboxes for r in results])
        if rois.shape[0] == 0:
            return empty_instances(
                metas, rois.device, task_type='mask',
                instance_results=results,
                mask_thr_binary=roi_head.test_cfg.mask_thr_binary)
        extractor = roi_head.mask_roi_extractor
        roi_feats = extractor(feats[:extractor.num_inputs], rois)
        (mask_preds, ) = self.programs.rois(
            'mask_head', roi_feats,
            [(roi_head.mask_head.num_classes, 28, 28)])
        return roi_head.mask_head.predict_by_feat(
            mask_preds=mask_preds.split([len(r) for r in results]),
            results_list=results, batch_img_metas=metas,
            rcnn_test_cfg=roi_head.test_cfg, rescale=rescale)


#: The host model of each task (``Programs.spec['task']``).
HOST_MODELS = dict(mmpretrain=ExecuTorchClassifier,
                   mmseg=ExecuTorchSegmentor,
                   mmdet=ExecuTorchTwoStageDetector)


def build_executorch_model(model_cfg, programs, device: str = 'cpu'):
    """The host model of ``programs`` for the model of ``model_cfg``."""
    model = pytorch_model(model_cfg, device=device)
    return HOST_MODELS[programs.spec['task']](model, programs).eval()
