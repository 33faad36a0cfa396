# Mask R-CNN (any mmdet instance segmentor) to ONNX Runtime, dynamic batch,
# height and width. Outputs dets (N x K x 5: box, score), labels (N x K) and
# masks (N x K x 28 x 28, pasted onto the image outside the graph, as
# mmdeploy does with export_postprocess_mask=False). mmdeploy 1.3.1's
# configs/mmdet/instance-seg/instance-seg_onnxruntime_dynamic.py.
_base_ = ['./_base_/onnx_config.py']

onnx_config = dict(
    output_names=['dets', 'labels', 'masks'],
    dynamic_axes=dict(
        input={0: 'batch', 2: 'height', 3: 'width'},
        dets={0: 'batch', 1: 'num_dets'},
        labels={0: 'batch', 1: 'num_dets'},
        masks={0: 'batch', 1: 'num_dets', 2: 'height', 3: 'width'}))
codebase_config = dict(
    type='mmdet',
    task='ObjectDetection',
    model_type='end2end',
    module=['swiftformer_mm'],
    # mmdet's test_cfg of Mask R-CNN: score 0.05, NMS IoU 0.5, 100 per image
    post_processing=dict(
        score_threshold=0.05,
        confidence_threshold=0.005,
        iou_threshold=0.5,
        max_output_boxes_per_class=200,
        pre_top_k=5000,
        keep_top_k=100,
        background_label_id=-1,
        export_postprocess_mask=False))
backend_config = dict(type='onnxruntime')
