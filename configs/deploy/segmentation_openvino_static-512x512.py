# Semantic FPN to OpenVINO (CPU), static 1x3x512x512: the ONNX export of the
# ONNX Runtime config, converted with openvino.convert_model.
_base_ = ['./segmentation_onnxruntime_static-512x512.py']

backend_config = dict(
    type='openvino',
    model_inputs=[dict(opt_shapes=dict(input=[1, 3, 512, 512]))])
