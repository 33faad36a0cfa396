# Semantic FPN (any mmseg segmentor) to ONNX Runtime, static 1x3x512x512
# input. mmdeploy 1.3.1's own configs/mmseg/segmentation_onnxruntime_static-
# 512x512.py (its wheel ships no configs), with swiftformer_mm imported by
# mmdeploy, and one change: the graph outputs the logits (N x C x H x W,
# with_argmax=False) instead of the class map, so that they are resized to
# the image before the argmax, as mmseg does (the class map resized with
# nearest neighbours cost 1.2 mIoU on the demo set). For a graph that ends in
# the class map, set codebase_config.with_argmax=True.
#   python tools/deploy.py configs/deploy/segmentation_onnxruntime_static-512x512.py \
#       MODEL_CFG CHECKPOINT IMAGE --work-dir DIR
_base_ = ['./_base_/onnx_config.py']

onnx_config = dict(input_shape=[512, 512])  # W, H
codebase_config = dict(
    type='mmseg', task='Segmentation', with_argmax=False,
    module=['swiftformer_mm'])
backend_config = dict(type='onnxruntime')
