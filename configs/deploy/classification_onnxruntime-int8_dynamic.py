# The classifiers of classification_onnxruntime_dynamic.py quantized to INT8
# with ONNX Runtime's static QDQ quantization: int8 weights per output
# channel, uint8 activations, calibrated on 64 images of the model config's
# training set, through its test pipeline
# (tools/deployment/deploy.py --calib N).
_base_ = ['./classification_onnxruntime_dynamic.py']

# Opset 13: per-channel DequantizeLinear (its axis attribute) needs it.
onnx_config = dict(opset_version=13)
# Only the convolutions and matrix products are quantized; what lies between
# them (the attention's L2 normalisations, GELU, resizes, and in detectors
# the box arithmetic, NMS and RoIAlign inputs) stays fp32. Quantizing every
# op ONNX Runtime can put the demo Mask R-CNN's box coordinates on a uint8
# grid: 19.9 box AP against 34.0 in fp32 (docs/deployment.md).
quantization = dict(type='onnxruntime', calib_images=64, per_channel=True,
                    op_types=['Conv', 'MatMul', 'Gemm'])
