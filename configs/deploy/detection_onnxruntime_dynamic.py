# Object detectors (RetinaNet, FCOS, Faster R-CNN, ...; any mmdet detector
# whose ops ONNX has) to ONNX Runtime, dynamic batch, height and width.
# Outputs dets (N x K x 5: box, score) and labels (N x K). mmdeploy 1.3.1's
# configs/mmdet/detection/detection_onnxruntime_dynamic.py, at opset 16 so
# that the deformable attention of DINO and Deformable DETR exports as ONNX's
# GridSample (swiftformer_mm/export/rewriters.py) instead of mmdeploy's
# custom op.
_base_ = ['./_base_/onnx_config.py', './_base_/mmdet_end2end.py']

onnx_config = dict(
    opset_version=16,
    output_names=['dets', 'labels'],
    dynamic_axes=dict(
        input={0: 'batch', 2: 'height', 3: 'width'},
        dets={0: 'batch', 1: 'num_dets'},
        labels={0: 'batch', 1: 'num_dets'}))
backend_config = dict(type='onnxruntime')
