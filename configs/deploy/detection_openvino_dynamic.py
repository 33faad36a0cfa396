# Object detectors to OpenVINO (CPU), dynamic shapes: the ONNX export of the
# ONNX Runtime config (standard ops only), converted with
# openvino.convert_model.
_base_ = ['./detection_onnxruntime_dynamic.py']

backend_config = dict(type='openvino')
