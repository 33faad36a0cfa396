# Mask R-CNN of instance-seg_openvino_dynamic.py quantized to INT8 with NNCF,
# calibrated on 64 images of the model config's training set
# (tools/deploy.py --calib N).
_base_ = ['./instance-seg_openvino_dynamic.py']

quantization = dict(type='nncf', calib_images=64, preset='mixed',
                    model_type='transformer')
