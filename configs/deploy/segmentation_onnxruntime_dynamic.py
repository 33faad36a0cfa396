# Semantic FPN (any mmseg segmentor) to ONNX Runtime, dynamic batch, height
# and width; argmax in the graph. mmdeploy 1.3.1's
# configs/mmseg/segmentation_onnxruntime_dynamic.py.
_base_ = ['./segmentation_onnxruntime_static-512x512.py']

onnx_config = dict(
    input_shape=None,
    dynamic_axes=dict(
        input={0: 'batch', 2: 'height', 3: 'width'},
        output={0: 'batch', 2: 'height', 3: 'width'}))
