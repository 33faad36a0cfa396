# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Reading checkpoint files safely, whatever container they come in.

Key names are not handled here (see :mod:`.layouts`); this module
turns a path into a flat ``{name: tensor}`` dict, with an error that names the
problem and the fix for every way that can go wrong.
"""
import os
import os.path as osp
import pickle
from typing import Dict, Tuple

import torch

from .safe_globals import safe_load


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used; the message says why and what to do."""


# Containers that wrap a state dict, in order of preference. The authors'
# training script saves ``model`` (and ``model_ema`` when EMA is on); the
# weights they evaluate and release are ``model``.
WRAPPER_KEYS = ('state_dict', 'model', 'model_ema', 'module')

HF_WEIGHT_FILES = ('model.safetensors', 'pytorch_model.bin')


def _read_file(path: str, map_location):
    if path.endswith('.safetensors'):
        try:
            from safetensors.torch import load_file
        except ImportError as e:  # pragma: no cover - safetensors is a test dep
            raise CheckpointError(
                f'{path} is a safetensors file: pip install safetensors') from e
        return load_file(path, device=str(map_location))
    # A checkpoint is data and must never run code: tensors, plain values
    # and the classes of OpenMMLab Runner checkpoints only, on any torch.
    return safe_load(path, map_location=map_location)


def _unreadable(path: str, error: Exception) -> CheckpointError:
    lines = [line for line in str(error).splitlines() if line.strip()]
    return CheckpointError(
        f'could not read {path} ({os.path.getsize(path)} bytes) as a PyTorch '
        f'or safetensors checkpoint ({type(error).__name__}: '
        f'{lines[-1] if lines else ""}). The file is truncated (an interrupted '
        'download?) or not a checkpoint at all; download it again.')


def read_state_dict(path: str,
                    map_location='cpu') -> Tuple[Dict[str, torch.Tensor], dict]:
    """Read ``path`` and return ``(state_dict, meta)``.

    Accepts raw state dicts, dicts wrapping one under ``state_dict``,
    ``model``, ``model_ema`` or ``module``, ``.safetensors`` files, and local
    paths or URLs (through mmengine's file backends).

    Raises:
        FileNotFoundError: The path does not exist.
        CheckpointError: A directory, an unreadable or truncated file, a file
            holding no tensors, or a pickle that would execute code.
    """
    if '://' in path:
        from mmengine.runner.checkpoint import CheckpointLoader
        obj = CheckpointLoader.load_checkpoint(path, map_location=map_location)
    else:
        if osp.isdir(path):
            inside = [f for f in HF_WEIGHT_FILES
                      if osp.isfile(osp.join(path, f))]
            hint = (f' Pass {osp.join(path, inside[0])!r} instead.'
                    if inside else '')
            raise CheckpointError(
                f'{path} is a directory (a Hugging Face model folder?), not a '
                f'checkpoint file; give the weights file inside it '
                f'({" or ".join(HF_WEIGHT_FILES)}).{hint}')
        if not osp.exists(path):
            raise FileNotFoundError(f'checkpoint not found: {path!r}')
        try:
            obj = _read_file(path, map_location)
        except pickle.UnpicklingError as e:
            refused = [line for line in str(e).splitlines() if 'GLOBAL' in line]
            if not refused:
                raise _unreadable(path, e) from e
            raise CheckpointError(
                f'refused to load {path}: it contains Python objects that a '
                'weights file does not need, and unpickling them could run '
                f'arbitrary code ({refused[0].strip()}). Use a checkpoint '
                'from a source you trust, re-saved as a plain state_dict.'
            ) from e
        except Exception as e:  # noqa: BLE001 - every reader error means the same
            raise _unreadable(path, e) from e

    meta = {}
    if isinstance(obj, dict):
        meta = obj.get('meta') or {}
        for key in WRAPPER_KEYS:
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not any(
            isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(
            f'{path} holds no tensors (found {type(obj).__name__}'
            + (f' with keys {list(obj)[:8]}' if isinstance(obj, dict) else '')
            + '); expected a state_dict, or a dict wrapping one under '
            f'{"/".join(WRAPPER_KEYS)}.')
    state_dict = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    return state_dict, meta if isinstance(meta, dict) else {}
