"""Runner checkpoints load with torch.load's safety on; writes are atomic."""
import os
import pickle
import signal
import subprocess
import sys
import time

import pytest
import torch
import torch.nn as nn
from mmengine.logging import HistoryBuffer

import swiftformer_mm  # noqa: F401  registers the allow-list and backend
from conftest import run
from swiftformer_mm import CheckpointError, read_state_dict


def runner_like_checkpoint():
    """What mmengine's Runner stores besides the weights."""
    import numpy as np
    buffer = HistoryBuffer()
    for v in (0.5, 0.25):
        buffer.update(v)
    return {
        'meta': {'epoch': 1, 'iter': 8, 'seed': 3, 'eta': np.float64(1.5),
                 'dataset_meta': {'classes': ('a', 'b'),
                                  'palette': [(1, 2, 3)]}},
        'state_dict': nn.Linear(2, 2).state_dict(),
        'message_hub': {'log_scalars': {'train/loss': buffer},
                        'runtime_info': {'iter': 8}, 'resumed_keys': {}},
        'optimizer': {'state': {}, 'param_groups': [{'lr': 0.1}]},
    }


def _extensible() -> bool:
    from swiftformer_mm.checkpoint import safe_globals
    return safe_globals._extensible_weights_only()


#: The ways :func:`safe_load` protects a load on this torch: the restricted
#: pickle module it gives ``torch.load`` where torch cannot extend its
#: weights_only allow-list (torch < 2.6; forced on a newer torch too, so
#: that it runs on every stack), and that allow-list, extended, where torch
#: has one to extend.
LOADING_PATHS = ['restricted pickle module'] + (
    ['torch allow-list'] if _extensible() else [])


@pytest.fixture(params=LOADING_PATHS)
def loading_path(request, monkeypatch):
    from swiftformer_mm.checkpoint import safe_globals
    if request.param == 'restricted pickle module':
        monkeypatch.setattr(safe_globals, '_extensible_weights_only',
                            lambda: False)
    return request.param


def test_runner_checkpoint_loads_safely(tmp_path, loading_path):
    from swiftformer_mm.checkpoint import safe_load
    torch.save(runner_like_checkpoint(), tmp_path / 'iter_8.pth')
    loaded = safe_load(tmp_path / 'iter_8.pth')
    assert loaded['message_hub']['log_scalars']['train/loss'].mean() == \
        pytest.approx(0.375)
    assert loaded['meta']['eta'] == 1.5
    state, meta = read_state_dict(str(tmp_path / 'iter_8.pth'))
    assert set(state) == {'weight', 'bias'} and meta['iter'] == 8
    # and mmengine's own loader (used by --resume and load_from)
    from mmengine.runner.checkpoint import _load_checkpoint
    assert 'message_hub' in _load_checkpoint(str(tmp_path / 'iter_8.pth'))


def test_torchs_own_weights_only_load_and_runner_checkpoints(tmp_path):
    """torch >= 2.6 (where mmengine's --resume meets weights_only=True by
    default): the import's allow-list lets Runner checkpoints through. Older
    torch refuses them with weights_only=True and cannot be told otherwise,
    which is why safe_load brings its own allow-list there."""
    torch.save(runner_like_checkpoint(), tmp_path / 'iter_8.pth')
    if _extensible():
        loaded = torch.load(tmp_path / 'iter_8.pth', weights_only=True)
        assert loaded['meta']['eta'] == 1.5
    else:
        with pytest.raises(pickle.UnpicklingError, match='Unsupported class'):
            torch.load(tmp_path / 'iter_8.pth', weights_only=True)


class _GetattrOnAllowedClass:
    """getattr on an allow-listed class reaches methods that write files."""

    def __reduce__(self):
        import numpy as np
        return (getattr, (np.ndarray, 'tofile'))


class _GetattrOnHistoryBuffer:
    def __reduce__(self):
        return (getattr, (HistoryBuffer, '__init__'))


class _RunsCode:
    def __reduce__(self):
        return (eval, ('1 + 1', ))


@pytest.mark.parametrize('payload', [_GetattrOnAllowedClass, _GetattrOnHistoryBuffer,
                                     _RunsCode])
def test_crafted_pickles_are_refused(tmp_path, payload, loading_path):
    from swiftformer_mm.checkpoint import safe_load
    torch.save({'state_dict': {'w': torch.ones(1)}, 'x': payload()},
               tmp_path / 'evil.pth')
    with pytest.raises(Exception) as info:
        safe_load(tmp_path / 'evil.pth')
    assert 'not allowed' in str(info.value) or 'Unsupported global' in str(
        info.value) or 'blocked' in str(info.value)
    with pytest.raises(CheckpointError):
        read_state_dict(str(tmp_path / 'evil.pth'))


def test_protection_is_not_switched_off():
    assert 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD' not in os.environ
    assert 'TORCH_FORCE_WEIGHTS_ONLY_LOAD' not in os.environ


_WRITER = r'''
import sys, torch
import swiftformer_mm
from mmengine.runner.checkpoint import save_checkpoint
BACKEND = dict(backend='atomic_local')  # as this project's configs name it
big = {'state_dict': {'w': torch.randn(64, 1024, 1024)}}  # 256 MB
print('writing', flush=True)
while True:
    save_checkpoint(big, sys.argv[1], backend_args=BACKEND)
'''


@pytest.mark.slow
def test_crash_mid_write_leaves_a_complete_checkpoint(tmp_path):
    """A writer saving a 256 MB checkpoint back to back is SIGKILLed; it
    spends nearly all its time writing, so the kill lands mid-write. The
    target must still be a complete checkpoint: the previous one, or one of
    the writer's finished ones. (With mmengine's own in-place write it is a
    truncated file here.)"""
    from mmengine.runner.checkpoint import save_checkpoint
    target = tmp_path / 'latest.pth'
    save_checkpoint({'state_dict': {'w': torch.zeros(3)}}, str(target),
                    backend_args=dict(backend='atomic_local'))
    for delay in (0.5, 1.3):
        proc = subprocess.Popen([sys.executable, '-c', _WRITER, str(target)],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == 'writing'
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        weights = torch.load(target, weights_only=True)['state_dict']['w']
        assert torch.equal(weights, torch.zeros(3)) or \
            weights.shape == (64, 1024, 1024)
    assert oct(target.stat().st_mode & 0o777) != oct(0o600)


def test_shipped_configs_write_checkpoints_atomically():
    """Every training config of ours names the atomic backend for its
    checkpoints; mmengine's default backend is left alone."""
    import glob
    from mmengine.config import Config
    from mmengine.fileio import LocalBackend, get_file_backend
    from swiftformer_mm.checkpoint import AtomicLocalBackend
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    configs = [c for c in glob.glob(os.path.join(root, 'configs', '*', '*.py'))
               if '/deploy/' not in c]
    assert len(configs) >= 15
    for config in configs:
        hook = Config.fromfile(config).default_hooks.checkpoint
        backend = get_file_backend('work_dirs/x/epoch_1.pth',
                                   backend_args=hook.get('backend_args'))
        assert isinstance(backend, AtomicLocalBackend), config
    assert type(get_file_backend('work_dirs/x/epoch_1.pth')) is LocalBackend


@pytest.mark.slow
def test_publish_model_keeps_weights_and_meta_and_hashes_the_name(tmp_path):
    import hashlib
    torch.save(runner_like_checkpoint(), tmp_path / 'epoch_12.pth')
    run('tools/model_converters/publish_model.py',
        str(tmp_path / 'epoch_12.pth'), str(tmp_path / 'mask_rcnn.pth'))
    (published, ) = tmp_path.glob('mask_rcnn-*.pth')
    digest = hashlib.sha256(published.read_bytes()).hexdigest()
    assert published.name == f'mask_rcnn-{digest[:8]}.pth'
    from swiftformer_mm.checkpoint import safe_load
    loaded = safe_load(published)
    assert set(loaded) == {'meta', 'state_dict'}
    assert loaded['meta']['epoch'] == 1
