# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""What the pipeline asks of a runtime (:class:`DeployBackend`), and the
registry of the runtimes (``backend_config.type`` -> class), as mmdeploy
registers its backend managers. A new runtime is a new module with a
registered subclass; :mod:`..pipeline` never asks which one it is.
"""
import importlib
from typing import Callable, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config
from mmengine.registry import Registry

from .. import quantize
from ..errors import DeployError
from ..task import network_inputs

DEPLOY_BACKENDS = Registry('deploy backend')


class DeployBackend:
    """A runtime the models deploy to: export (fp32, or INT8 when
    calibration inputs are given), quantize, and load the deployed files
    as a model with mmengine's ``test_step``.

    Args:
        deploy_cfg (Config): the deploy config (:func:`~..task.load_configs`).
        model_cfg (Config): the model config.
        device (str): where the PyTorch model is built.
    """

    #: ``backend_config.type`` of its deploy configs
    name = ''
    #: the package that must import for the runtime to work, and its install
    package = ''
    install = ''

    def __init__(self, deploy_cfg: Config, model_cfg: Config,
                 device: str = 'cpu'):
        self.deploy_cfg = deploy_cfg
        self.model_cfg = model_cfg
        self.device = device

    #: The oldest torch (major, minor) the runtime works with, if it needs a
    #: newer one than the package does; its name in that message, and what
    #: to do on an older torch.
    min_torch = None
    runtime = ''
    instead = ''

    @classmethod
    def check_installed(cls) -> None:
        have = tuple(int(p) for p in torch.__version__.split('+')[0]
                     .split('.')[:2])
        if cls.min_torch and have < cls.min_torch:
            raise DeployError(
                f'{cls.runtime} needs torch >= '
                f'{".".join(map(str, cls.min_torch))}; this environment has '
                f'torch {torch.__version__}. {cls.instead}')
        try:
            importlib.import_module(cls.package)
        except ImportError as e:
            raise DeployError(f'backend {cls.name!r} is not installed ({e}); '
                              f'{cls.install}') from e

    @property
    def input_shape(self) -> Optional[Sequence[int]]:
        """(W, H) of a static-shape model, None for a dynamic one."""
        return self.deploy_cfg.get('onnx_config', {}).get('input_shape')

    def host_preprocessor(self) -> torch.nn.Module:
        """The data preprocessor that runs on the host before the deployed
        network (normalisation, and padding where the graph does not pad)."""
        raise NotImplementedError

    def calibration_inputs(self, num: int) -> List[torch.Tensor]:
        """``num`` network inputs made from images of the model config's
        training set (a fixed random choice), as the deployed network will
        receive them: through the test pipeline and
        :meth:`host_preprocessor`."""
        paths = quantize.calibration_images(self.model_cfg, num)
        return network_inputs(self.model_cfg, paths, self.host_preprocessor(),
                              self.input_shape)

    def export(self, checkpoint: str, image: str, work_dir: str,
               sizes: Sequence[Tuple[int, int]] = (),
               calibration: Optional[List[torch.Tensor]] = None
               ) -> List[str]:
        """Write the deployed model into ``work_dir``, INT8 when
        ``calibration`` is given; return its files. ``image`` is traced on;
        ``sizes`` (h, w) are further image sizes it must run at."""
        raise NotImplementedError

    def load(self, files: Sequence[str]) -> torch.nn.Module:
        """The deployed model as an mmengine model: ``test_step(batch)`` on
        the task's batch gives the library's data samples."""
        raise NotImplementedError

    def network(self, model: torch.nn.Module,
                x: torch.Tensor) -> Callable[[], object]:
        """A call of the deployed network alone on the preprocessed ``x``
        (for timing it apart from the host's steps)."""
        raise NotImplementedError
