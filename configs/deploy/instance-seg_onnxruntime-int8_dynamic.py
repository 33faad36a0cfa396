# Mask R-CNN of instance-seg_onnxruntime_dynamic.py quantized to INT8 with
# ONNX Runtime's static QDQ quantization (per-channel int8 weights, uint8
# activations), calibrated on 64 images of the model config's training set
# (tools/deployment/deploy.py --calib N).
_base_ = ['./instance-seg_onnxruntime_dynamic.py']

# (Opset 16, from the base: per-channel DequantizeLinear needs 13 or more.)
# Only the convolutions and matrix products are quantized; what lies between
# them (the attention's L2 normalisations, GELU, resizes, and in detectors
# the box arithmetic, NMS and RoIAlign inputs) stays fp32. Quantizing every
# op ONNX Runtime can put the demo Mask R-CNN's box coordinates on a uint8
# grid: 19.9 box AP against 34.0 in fp32 (docs/deployment.md).
#
# The heads' output layers (the RPN's scores and deltas, the box head's
# classifier and regressor, the mask logits) stay in fp32 as well: they
# write the values that NMS and the score and mask thresholds cut, and take
# a negligible share of the time. Quantized, the demo Mask R-CNN on an AVX2
# CPU kept 67.9% / 33.3% of its detections at box IoU 0.9 / 0.95 (box /
# mask AP -1.3 / -1.2); kept in fp32, 75.0% / 58.3% (-0.8 / -0.8)
# (docs/deployment.md, INT8 choices).
quantization = dict(type='onnxruntime', calib_images=64, per_channel=True,
                    op_types=['Conv', 'MatMul', 'Gemm'],
                    ignored_patterns=['.*rpn_cls.*', '.*rpn_reg.*',
                                      '.*fc_cls.*', '.*fc_reg.*',
                                      '.*conv_logits.*'])
