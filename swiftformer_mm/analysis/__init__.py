# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Measuring SwiftFormer: FLOPs and parameters (:mod:`.flops`), latency,
throughput and memory (:mod:`.benchmark`, :mod:`.timing`), and the random
weights comparisons use (:mod:`.weights`). ``tools/analysis_tools/get_flops.py`` and
``tools/analysis_tools/benchmark.py`` are command lines over these."""
