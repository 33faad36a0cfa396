# The classifiers of classification_openvino_dynamic.py quantized to INT8
# with NNCF, calibrated on 64 images of the model config's training set,
# through its test pipeline (tools/deployment/deploy.py --calib N).
_base_ = ['./classification_openvino_dynamic.py']

quantization = dict(type='nncf', calib_images=64, preset='mixed',
                    model_type='transformer')
