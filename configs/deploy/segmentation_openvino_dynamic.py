# Semantic FPN to OpenVINO (CPU), dynamic batch, height and width: the ONNX
# export of the ONNX Runtime config, converted with openvino.convert_model.
_base_ = ['./segmentation_onnxruntime_dynamic.py']

backend_config = dict(type='openvino')
