# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Exact and robust resume: RNG states in checkpoints, and picking the
newest checkpoint that actually loads."""
import glob
import os.path as osp
import random
import re

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS
from mmengine.runner import IterBasedTrainLoop

from ..checkpoint import safe_load


def get_rng_state() -> dict:
    """The states of Python's, numpy's and torch's global generators, as
    tensors and plain Python values (loadable with weights_only=True)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = dict(
        python=random.getstate(),
        numpy=dict(kind=kind, keys=torch.from_numpy(keys.astype(np.int64)),
                   pos=int(pos), has_gauss=int(has_gauss),
                   gauss=float(gauss)),
        torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    version, internal, gauss = state['python']
    random.setstate((version, tuple(internal), gauss))
    n = state['numpy']
    np.random.set_state((n['kind'], n['keys'].numpy().astype(np.uint32),
                         n['pos'], n['has_gauss'], n['gauss']))
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


class _SkippedIterator:
    """Returns ``None`` ``count`` times (the loop's own skip of the batches
    already trained, done by :class:`ExactResumeHook` instead), then
    delegates to ``iterator``."""

    def __init__(self, iterator, count: int):
        self.iterator, self.count = iterator, count

    def __iter__(self):
        return self

    def __next__(self):
        if self.count > 0:
            self.count -= 1
            return None
        return next(self.iterator)

    def __getattr__(self, name):
        return getattr(self.iterator, name)


@HOOKS.register_module()
class ExactResumeHook(Hook):
    """Make ``--resume`` continue exactly where the run stopped.

    mmengine saves weights, optimizer, schedulers and logs, but not the random
    generators; a resumed run then draws different augmentations, proposal
    samples and dropout masks than the run it continues. This hook stores the
    generators' states with every checkpoint and restores them at the start
    of the resumed training, after anything that consumes randomness between
    loading and the first new iteration (for iteration-based loops, mmengine
    replays the data pipeline over the batches already trained; this hook
    does that replay itself, then restores the state).

    A config names it, so that every entry point (tools/train.py, ``mim
    train``, mmdet's/mmseg's/mmpretrain's own tools/train.py, a user's
    script building a Runner from the config) resumes exactly; all shipped
    training configs do::

        custom_imports = dict(
            imports=['swiftformer_mm', 'swiftformer_mm.engine'],
            allow_failed_imports=False)
        custom_hooks = [dict(type='ExactResumeHook')]

    It is registered in mmengine's ``HOOKS``, the parent of mmdet's, mmseg's
    and mmpretrain's, so the name resolves under each default scope. A
    second instance in one Runner would replay the skipped batches twice.
    A checkpoint loaded with ``load_from`` and no resume (training starts
    at iteration 0) only gives weights: its generator states are ignored.
    """
    priority = 'HIGHEST'

    def __init__(self):
        self._loaded = False
        self._pending = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['rng_state'] = get_rng_state()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # The Runner calls this for a resume and for a plain ``load_from``
        # alike; which of the two it was shows when training starts.
        self._loaded = True
        self._pending = checkpoint.get('rng_state')

    def before_train_epoch(self, runner) -> None:
        if not self._loaded:
            return
        state, self._loaded, self._pending = self._pending, False, None
        done = runner.iter
        if done == 0:
            # load_from without resume: weights to start from, not a run to
            # continue; the config's seed decides the randomness.
            return
        if state is None:
            print_log('the checkpoint has no random generator states '
                      '(written without ExactResumeHook); the resumed run '
                      'continues with freshly seeded generators',
                      logger='current', level=30)
            return
        loop = runner.train_loop
        if isinstance(loop, IterBasedTrainLoop):
            iterator = loop.dataloader_iterator
            for _ in range(done):
                next(iterator)
            loop.dataloader_iterator = _SkippedIterator(iterator, done)
        set_rng_state(state)


# ---------------------------------------------------------------------------
# Auto resume that survives a truncated last_checkpoint / checkpoint
# ---------------------------------------------------------------------------
def _loads(path: str):
    try:
        obj = safe_load(path)
    except Exception as e:  # noqa: BLE001 - any failure means unusable
        lines = [ln for ln in str(e).splitlines() if ln.strip()]
        return f'{type(e).__name__}: {lines[-1] if lines else ""}'
    if not isinstance(obj, dict) or 'state_dict' not in obj or \
            'meta' not in obj:
        return 'not a Runner checkpoint (no state_dict/meta)'
    return None


def _checkpoint_order(path: str):
    m = re.search(r'(?:epoch|iter)_(\d+)\.pth$', osp.basename(path))
    return (osp.getmtime(path), int(m.group(1)) if m else -1)


def find_resumable_checkpoint(work_dir: str, logger=None):
    """The newest checkpoint in ``work_dir`` that actually loads, or None.

    mmengine trusts ``work_dir/last_checkpoint`` (written with a plain
    ``open()``), so a run killed while writing it, or a checkpoint truncated
    by a full disk, makes ``--resume`` fail. Candidates here are the file
    ``last_checkpoint`` names and every ``*.pth`` in the work dir, newest
    first (modification time, then the epoch/iteration number); each is
    opened with ``torch.load(weights_only=True)`` and the first that loads is
    returned. Raises if checkpoints exist but none loads.
    """
    log = logger.warning if logger is not None else print
    candidates = set(glob.glob(osp.join(work_dir, '*.pth')))
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        try:
            with open(pointer) as f:
                named = f.read().strip()
        except (OSError, UnicodeDecodeError):
            named = ''
        if named and osp.isfile(named):
            candidates.add(named)
        elif named:
            log(f'{pointer} names {named!r}, which does not exist; looking '
                f'for checkpoints in {work_dir}')
    failures = []
    for path in sorted(candidates, key=_checkpoint_order, reverse=True):
        problem = _loads(path)
        if problem is None:
            if failures:
                log('skipped unreadable checkpoints: ' + '; '.join(
                    f'{p} ({why})' for p, why in failures) +
                    f'; resuming from {path}')
            return path
        failures.append((path, problem))
    if failures:
        raise RuntimeError(
            f'--resume: none of the checkpoints in {work_dir} can be loaded ('
            + '; '.join(f'{p}: {why}' for p, why in failures) + '). They are '
            'truncated or corrupt; delete them to start from scratch, or pass '
            '--resume PATH to a good checkpoint.')
    return None
