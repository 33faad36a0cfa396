# The programs of segmentation_executorch.py quantized to INT8 with PT2E and
# XNNPACK's quantizer (symmetric, per-channel weights), calibrated on 64
# images of the model config's training set
# (tools/deployment/deploy.py --calib N).
_base_ = ['./segmentation_executorch.py']

quantization = dict(type='executorch', calib_images=64)
