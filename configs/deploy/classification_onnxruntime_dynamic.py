# An mmpretrain classifier (SwiftFormerClassifier, configs/classification/)
# to ONNX Runtime, dynamic batch, height and width: mmdeploy 1.3.1's
# configs/mmpretrain/classification_onnxruntime_dynamic.py. The graph ends at
# the logits; softmax and top-k run on the host, as mmpretrain runs them.
_base_ = ['./_base_/onnx_config.py']

onnx_config = dict(
    dynamic_axes=dict(
        input={0: 'batch', 2: 'height', 3: 'width'}, output={0: 'batch'}))
codebase_config = dict(type='mmpretrain', task='Classification',
                       module=['swiftformer_mm'])
backend_config = dict(type='onnxruntime')
