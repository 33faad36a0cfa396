# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Deploying whole classifiers, segmentors and detectors to ONNX Runtime,
OpenVINO and ExecuTorch, fp32 and INT8, laid out as mmdeploy is:

* :mod:`.pipeline`: export, load, compare and evaluate, for any runtime
  (``tools/deployment/``);
* :mod:`.backends`: one module per runtime (export, quantize, load);
* :mod:`.task`: what the runtimes share about the task (configs, inputs,
  the PyTorch model, the host's data preprocessor);
* :mod:`.onnx`: the one ONNX export path (mmdeploy's exporter);
* :mod:`.executorch_models`: the host side of ExecuTorch programs;
* :mod:`.quantize`: the ``quantization`` section and calibration images;
* :mod:`.mmdeploy_compat` and :mod:`.rewriters`: the mends mmdeploy 1.3.1
  needs with today's torch and OpenVINO, active only while deploying;
* :mod:`.compare`, :mod:`.seg_postprocess`: detection matching, mmseg's
  post-processing of logits.
"""
