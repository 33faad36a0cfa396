"""Checkpoints written by an earlier release (commit fc282d8, before the
package was split into models/ checkpoint/ deploy/ analysis/) still load,
completely, and compute what they computed then.

The fixtures are committed; tests/fixtures/make_compat_checkpoints.py says
how they were made.
"""
from pathlib import Path

import pytest
import torch

from conftest import relative_error
from fixtures.make_compat_checkpoints import ARCH, compat_input
from swiftformer_mm.models import SwiftFormer

FIXTURES = Path(__file__).resolve().parent / 'fixtures'


def _load(name):
    return torch.load(FIXTURES / name, map_location='cpu', weights_only=True)


def _backbone_state(ckpt):
    return {k[len('backbone.'):]: v for k, v in ckpt['state_dict'].items()
            if k.startswith('backbone.')}


@pytest.mark.parametrize('fixture, deploy', [
    ('tiny_train.pth', False),  # training form into the training form
    ('tiny_train.pth', True),  # training form fused while loading
    ('tiny_deploy.pth', True),  # deploy form into the deploy form
])
def test_old_openmmlab_checkpoints_load_strictly(fixture, deploy):
    ckpt = _load(fixture)
    model = SwiftFormer(ARCH, deploy=deploy).eval()
    # strict: every tensor of the model is in the file and nothing is left
    model.load_state_dict(_backbone_state(ckpt), strict=True)
    with torch.no_grad():
        features = model(compat_input())
    for got, expected in zip(features, ckpt['expected'], strict=True):
        assert relative_error(got, expected) < 1e-5


@pytest.mark.parametrize('deploy', [False, True])
def test_old_checkpoint_loads_through_init_cfg(deploy):
    """The path a config takes: the backbone's ``init_cfg`` names the old
    detector checkpoint (training form; fused at load for deploy=True)."""
    path = FIXTURES / 'tiny_train.pth'
    model = SwiftFormer(ARCH, deploy=deploy,
                        init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    with torch.no_grad():
        features = model.eval()(compat_input())
    for got, expected in zip(features, _load(path.name)['expected'],
                             strict=True):
        assert relative_error(got, expected) < 1e-5
