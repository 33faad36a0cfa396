# What the detection and instance-segmentation deploy configs share: mmdeploy
# 1.3.1's configs/mmdet/_base_/base_static.py. The post-processing values are
# mmdet's test_cfg defaults, used where the model's own test_cfg gives none.
codebase_config = dict(
    type='mmdet',
    task='ObjectDetection',
    # mmdeploy's 'end2end' backend model, run image by image at each image's
    # own size (swiftformer_mm/export/mmdeploy_compat.py, 6.), also for
    # mmdeploy's own APIs on these files
    model_type='end2end_per_size',
    module=['swiftformer_mm'],
    post_processing=dict(
        score_threshold=0.05,
        confidence_threshold=0.005,
        iou_threshold=0.5,
        max_output_boxes_per_class=200,
        pre_top_k=5000,
        keep_top_k=100,
        background_label_id=-1))
