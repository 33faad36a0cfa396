# An mmpretrain classifier to OpenVINO (CPU), dynamic shapes: the ONNX export
# of the ONNX Runtime config, converted with openvino.convert_model.
_base_ = ['./classification_onnxruntime_dynamic.py']

backend_config = dict(type='openvino')
