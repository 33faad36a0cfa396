# ExecuTorch programs with the XNNPACK delegate, fp32: what runs on a phone
# (Android, iOS), run here by ExecuTorch's Python runtime on x86. Static
# shapes, one program per network input size of the model config's test set
# (and of tools/deployment/deploy.py's image and --sizes); what is in the
# programs: swiftformer_mm/export/backends/executorch.py; what stays on the
# host: swiftformer_mm/export/executorch_models.py.
backend_config = dict(type='executorch')
codebase_config = dict(type='mmseg', task='Segmentation')
