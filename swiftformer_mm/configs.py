# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""The configs this package ships, wherever it is installed.

A wheel carries them in ``swiftformer_mm/.mim/configs/``, as mmdet and mmseg
ship theirs; a clone (an editable install) has them in ``configs/`` at the
repository root. The same names work in both::

    python -m swiftformer_mm.configs             # list every config
    python -m swiftformer_mm.configs detection/mask_rcnn_swiftformer_l1.py
                                                 # print where it is

Base your own config on one with that path (mmengine resolves package-scoped
``_base_`` names such as ``mmdet::`` only for OpenMMLab's own packages)::

    _base_ = '/path/printed/above/mask_rcnn_swiftformer_l1.py'

Example:
    >>> from mmengine.config import Config
    >>> from swiftformer_mm.configs import get_config_path
    >>> cfg = Config.fromfile(
    ...     get_config_path('detection/mask_rcnn_swiftformer_l1.py'))
    >>> cfg.model.backbone.type
    'SwiftFormer'
"""
import difflib
import os
import os.path as osp
import sys
from typing import List

_PACKAGE = osp.dirname(osp.abspath(__file__))


def mim_dir() -> str:
    """Where the shipped configs and tools are: the package's ``.mim/``
    folder in a wheel, the repository root in a clone."""
    packaged = osp.join(_PACKAGE, '.mim')
    if osp.isdir(osp.join(packaged, 'configs')):
        return packaged
    clone = osp.dirname(_PACKAGE)
    if osp.isdir(osp.join(clone, 'configs', 'detection')):
        return clone
    raise FileNotFoundError(
        f'swiftformer_mm at {_PACKAGE} has no configs: neither {packaged}/ '
        f'(a wheel) nor {clone}/configs/ (a clone). Reinstall it with '
        '`pip install swiftformer_mm` or from a clone with `pip install .`.')


def config_dir() -> str:
    """The folder of the shipped configs (``detection/``, ``segmentation/``,
    ``classification/``, ``deploy/``)."""
    return osp.join(mim_dir(), 'configs')


def list_configs() -> List[str]:
    """Every shipped config, by its name relative to :func:`config_dir`."""
    root = config_dir()
    names = []
    for folder, _, files in os.walk(root):
        names += [osp.relpath(osp.join(folder, f), root) for f in files
                  if f.endswith('.py')]
    return sorted(n for n in names if '_base_' not in n.split(os.sep))


def get_config_path(name: str) -> str:
    """The path of the shipped config ``name``, e.g.
    ``'detection/mask_rcnn_swiftformer_l1.py'`` (a leading ``configs/`` and
    a missing ``.py`` are accepted).

    Raises:
        FileNotFoundError: No such config; the message lists the closest.
    """
    name = name[len('configs/'):] if name.startswith('configs/') else name
    name = name if name.endswith('.py') else name + '.py'
    path = osp.join(config_dir(), name)
    if osp.isfile(path):
        return path
    close = difflib.get_close_matches(name, list_configs(), n=3, cutoff=0.4)
    raise FileNotFoundError(
        f'swiftformer_mm ships no config {name!r}'
        + (f'; did you mean {" or ".join(map(repr, close))}?' if close else '')
        + ' `python -m swiftformer_mm.configs` lists them all.')


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print('\n'.join(list_configs()))
        return 0
    try:
        for name in argv:
            print(get_config_path(name))
    except FileNotFoundError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
