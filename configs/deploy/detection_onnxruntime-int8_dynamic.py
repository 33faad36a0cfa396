# Object detectors of detection_onnxruntime_dynamic.py (one-stage: RetinaNet,
# FCOS, ...; two-stage: Faster R-CNN) quantized to INT8 with ONNX Runtime's
# static QDQ quantization (per-channel int8 weights, uint8 activations),
# calibrated on 64 images of the model config's training set
# (tools/deployment/deploy.py --calib N). The recipe of
# instance-seg_onnxruntime-int8_dynamic.py: only convolutions and matrix
# products are quantized, and the heads' output layers stay fp32 (they write
# the scores and box deltas that NMS and the score threshold cut): RetinaNet's
# retina_cls/retina_reg, FCOS's conv_cls/conv_reg/conv_centerness, the RPN's
# and the box head's. Its agreement with fp32 has been measured only on
# random weights (tests/test_sdk.py); the demo job trains Mask R-CNN, whose
# INT8 figures are in docs/deployment.md.
_base_ = ['./detection_onnxruntime_dynamic.py']

quantization = dict(type='onnxruntime', calib_images=64, per_channel=True,
                    op_types=['Conv', 'MatMul', 'Gemm'],
                    ignored_patterns=['.*retina_cls.*', '.*retina_reg.*',
                                      '.*/conv_cls/.*', '.*/conv_reg/.*',
                                      '.*conv_centerness.*',
                                      '.*rpn_cls.*', '.*rpn_reg.*',
                                      '.*fc_cls.*', '.*fc_reg.*'])
