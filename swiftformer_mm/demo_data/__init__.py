# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Small synthetic datasets generated on the fly, for demos and tests that
must run without downloads (``python -m swiftformer_mm.demo_data.coco OUT``).
"""
