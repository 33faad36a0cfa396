# segmentation_onnxruntime-int8_dynamic.py (INT8, calibrated on the model
# config's training set) for mmdeploy's SDK: the graph ends at the class
# scores at the input size, which the SDK's ResizeMask resizes to the image
# (segmentation_onnxruntime_dynamic_sdk.py says why).
_base_ = ['./segmentation_onnxruntime-int8_dynamic.py']

codebase_config = dict(with_argmax=False, resize_to_input=True)
