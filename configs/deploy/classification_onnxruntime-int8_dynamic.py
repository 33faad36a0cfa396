# The classifiers of classification_onnxruntime_dynamic.py quantized to INT8
# with ONNX Runtime's static QDQ quantization: int8 weights per output
# channel, uint8 activations, calibrated on 64 images of the model config's
# training set, through its test pipeline (tools/deploy.py --calib N).
_base_ = ['./classification_onnxruntime_dynamic.py']

# Opset 13: per-channel DequantizeLinear (its axis attribute) needs it.
onnx_config = dict(opset_version=13)
quantization = dict(type='onnxruntime', calib_images=64, per_channel=True)
