# What every deploy config here shares: mmdeploy 1.3.1's
# configs/_base_/onnx_config.py (TorchScript ONNX export, opset 11, one input
# called 'input', the graph in end2end.onnx).
onnx_config = dict(
    type='onnx',
    export_params=True,
    keep_initializers_as_inputs=False,
    opset_version=11,
    save_file='end2end.onnx',
    input_names=['input'],
    output_names=['output'],
    input_shape=None,
    optimize=True)
