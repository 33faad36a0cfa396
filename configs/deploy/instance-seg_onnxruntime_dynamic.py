# Mask R-CNN (any mmdet instance segmentor) to ONNX Runtime, dynamic batch,
# height and width. Outputs dets (N x K x 5: box, score), labels (N x K) and
# masks (N x K x 28 x 28, pasted onto the image outside the graph, as
# mmdeploy does with export_postprocess_mask=False). mmdeploy 1.3.1's
# configs/mmdet/instance-seg/instance-seg_onnxruntime_dynamic.py, at opset
# 16: below it mmdeploy writes mmcv's RoIAlign(aligned=True) as ONNX's legacy
# RoiAlign on shifted boxes, which stretches every RoI narrower than a
# feature-map cell to a whole cell; boxes of a pixel or two then got other
# scores than in mmdet (tests/test_deploy_families.py).
_base_ = ['./_base_/onnx_config.py', './_base_/mmdet_end2end.py']

onnx_config = dict(
    opset_version=16,
    output_names=['dets', 'labels', 'masks'],
    dynamic_axes=dict(
        input={0: 'batch', 2: 'height', 3: 'width'},
        dets={0: 'batch', 1: 'num_dets'},
        labels={0: 'batch', 1: 'num_dets'},
        masks={0: 'batch', 1: 'num_dets', 2: 'height', 3: 'width'}))
# masks leave the graph at 28x28; the host pastes them onto the image
codebase_config = dict(post_processing=dict(export_postprocess_mask=False))
backend_config = dict(type='onnxruntime')
