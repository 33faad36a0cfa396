# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""The error every deployment step raises on input that cannot work."""


class DeployError(ValueError):
    """A deployment input that cannot work; the message says why and how."""
