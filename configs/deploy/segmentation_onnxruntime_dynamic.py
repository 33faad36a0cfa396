# Any mmseg segmentor (Semantic FPN, UPerNet, FCN, DeepLabV3+) to ONNX
# Runtime, dynamic batch, height and width: mmdeploy 1.3.1's
# configs/mmseg/segmentation_onnxruntime_dynamic.py, ending at the decode
# head's logits as the static config explains. The graph computes what mmseg
# computes at every input size (swiftformer_mm/export/rewriters.py).
_base_ = ['./segmentation_onnxruntime_static-512x512.py']

onnx_config = dict(
    input_shape=None,
    dynamic_axes=dict(
        input={0: 'batch', 2: 'height', 3: 'width'},
        output={0: 'batch', 2: 'height', 3: 'width'}))
