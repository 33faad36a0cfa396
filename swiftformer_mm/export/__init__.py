# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Deploying whole detectors and segmentors with mmdeploy (ONNX Runtime,
OpenVINO): the mends mmdeploy 1.3.1 needs with today's torch and OpenVINO
(:mod:`.mmdeploy_compat`), and the export/compare/evaluate steps behind
``tools/deployment/deploy.py`` and ``tools/deployment/deploy_test.py``
(:mod:`.pipeline`)."""
