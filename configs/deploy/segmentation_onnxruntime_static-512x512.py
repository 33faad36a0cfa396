# Semantic FPN (any mmseg segmentor) to ONNX Runtime, static 1x3x512x512
# input. mmdeploy 1.3.1's own configs/mmseg/segmentation_onnxruntime_static-
# 512x512.py (its wheel ships no configs), with swiftformer_mm imported by
# mmdeploy, and one change: the graph ends at the decode head's logits
# (N x C x H/4 x W/4: with_argmax=False, resize_to_input=False, an option of
# swiftformer_mm's rewrites) instead of the class map at the input size. The
# host resizes them to the input and to the image and then takes the argmax,
# as mmseg does, a few classes at a time (swiftformer_mm/export/
# seg_postprocess.py); the class map resized with nearest neighbours cost
# 1.2 mIoU on the demo set, and the full-size logits a third of the time.
# For mmdeploy's graph that ends in the class map, set with_argmax=True and
# resize_to_input=True.
#   python tools/deployment/deploy.py \
#       configs/deploy/segmentation_onnxruntime_static-512x512.py \
#       MODEL_CFG CHECKPOINT IMAGE --work-dir DIR
_base_ = ['./_base_/onnx_config.py']

onnx_config = dict(input_shape=[512, 512])  # W, H
codebase_config = dict(
    type='mmseg', task='Segmentation', with_argmax=False,
    resize_to_input=False, module=['swiftformer_mm'],
    # mmseg's post-processing of the logits, registered by swiftformer_mm
    # (swiftformer_mm/export/mmdeploy_compat.py, 5.): also for mmdeploy's
    # own APIs (inference_model, build_task_processor) on these files
    model_type='end2end_logits')
backend_config = dict(type='onnxruntime')
