# Mask R-CNN of instance-seg_openvino_dynamic.py quantized to INT8 with NNCF,
# calibrated on 64 images of the model config's training set
# (tools/deployment/deploy.py --calib N).
_base_ = ['./instance-seg_openvino_dynamic.py']

# The RPN's last convolutions, the box head and the mask logits stay in
# floating point: they write the box deltas and scores that NMS and the
# score and mask thresholds cut sharply. With them in INT8 the demo Mask
# R-CNN lost 1.4 box AP (32.6 against 34.0); kept in fp32, 0.2
# (docs/deployment.md). The backbone, FPN, RPN trunk and mask convolutions,
# most of the time, are INT8.
quantization = dict(type='nncf', calib_images=64, preset='mixed',
                    model_type='transformer',
                    ignored_patterns=['.*rpn_(cls|reg).*', '.*bbox_head.*',
                                      '.*conv_logits.*'])
