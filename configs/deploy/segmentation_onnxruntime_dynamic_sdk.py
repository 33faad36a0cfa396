# Semantic FPN (any mmseg segmentor) to ONNX Runtime, dynamic batch, height
# and width, for mmdeploy's SDK (mmdeploy_runtime.Segmentor, the C/C++/C#/
# Java APIs). The SDK's post-processing (ResizeMask) resizes the graph's
# output straight to the image, so the graph must end where that is right:
# at the class scores resized to the input (resize_to_input=True), with no
# padding left in them. segmentation_onnxruntime_dynamic.py ends earlier, at
# the decode head's 1/4-resolution logits of the padded input, which is
# faster but needs the host to resize and crop them first (docs/
# deployment.md, the host contract), a step the SDK cannot express.
# tools/deployment/deploy.py writes the SDK's deploy.json, pipeline.json and
# detail.json beside end2end.onnx.
_base_ = ['./segmentation_onnxruntime_dynamic.py']

codebase_config = dict(with_argmax=False, resize_to_input=True)
