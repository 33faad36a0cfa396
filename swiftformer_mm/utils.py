# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Helpers shared by the train/test tools."""
import contextlib
import glob
import os.path as osp
import random
import re

import numpy as np
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.optim import OptimWrapper
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import HOOKS, MODEL_WRAPPERS, OPTIM_WRAPPERS
from mmengine.runner import IterBasedTrainLoop

TASKS = ('mmdet', 'mmseg')


def setup_task(cfg: Config) -> str:
    """Return the config's task ('mmdet' or 'mmseg'), checking it is one."""
    task = cfg.get('default_scope')
    if task not in TASKS:
        raise ValueError(
            f"config default_scope is {task!r}; these tools run mmdet or mmseg "
            "configs (inherit one of their bases, which set default_scope)")
    return task


# ---------------------------------------------------------------------------
# Mixed precision on CPU
# ---------------------------------------------------------------------------
@OPTIM_WRAPPERS.register_module(force=True)
class CPUAmpOptimWrapper(OptimWrapper):
    """bf16 autocast for training on CPU.

    mmengine's ``AmpOptimWrapper`` asserts a GPU/NPU/MLU at construction, so
    it cannot run on a CPU at all. bf16 has fp32's exponent range, so no loss
    scaling is needed; the optimizer state and the master weights stay fp32.
    """

    def __init__(self, dtype='bfloat16', **kwargs):
        super().__init__(**kwargs)
        _mmcv_ops_in_fp32()
        dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
        if dtype != torch.bfloat16:
            raise ValueError('CPU mixed precision supports bfloat16 only '
                             f'(torch CPU autocast), got {dtype}')
        self.cast_dtype = dtype

    @contextlib.contextmanager
    def optim_context(self, model):
        with super().optim_context(model), torch.autocast(
                device_type='cpu', dtype=self.cast_dtype):
            yield


def _mmcv_ops_in_fp32() -> None:
    """mmcv's compiled CPU ops (nms, RoIAlign) take fp32 only; under CPU
    autocast they get bf16 tensors. Cast their inputs to fp32 (idempotent)."""
    import importlib
    try:  # the modules, not the functions mmcv.ops exports under their names
        nms_module = importlib.import_module('mmcv.ops.nms')
        roi_module = importlib.import_module('mmcv.ops.roi_align')
    except ImportError:  # pragma: no cover - mmcv without ops
        return
    if getattr(nms_module.nms, '_fp32_inputs', False):
        return

    def fp32(t):
        return t.float() if isinstance(t, torch.Tensor) and \
            t.dtype == torch.bfloat16 else t

    nms, roi_align = nms_module.nms, roi_module.roi_align

    def nms_fp32(boxes, scores, *args, **kwargs):
        return nms(fp32(boxes), fp32(scores), *args, **kwargs)

    def roi_align_fp32(input, rois, *args, **kwargs):
        with torch.autocast('cpu', enabled=False):
            out = roi_align(fp32(input), fp32(rois), *args, **kwargs)
        return out.to(input.dtype)

    nms_fp32._fp32_inputs = True
    nms_module.nms = nms_fp32
    roi_module.roi_align = roi_align_fp32


def apply_amp(cfg: Config) -> None:
    """Switch the optimizer wrapper to mixed precision: fp16 with a dynamic
    loss scale on CUDA (mmengine's ``AmpOptimWrapper``), bf16 autocast on CPU
    (:class:`CPUAmpOptimWrapper`; mmengine's wrapper refuses to run on CPU)."""
    wrapper = cfg.optim_wrapper
    kind = wrapper.get('type', 'OptimWrapper')
    if kind not in ('OptimWrapper', 'AmpOptimWrapper', 'CPUAmpOptimWrapper'):
        raise ValueError(
            f"--amp works with OptimWrapper, not {wrapper.get('type')}")
    if torch.cuda.is_available():
        wrapper.type = 'AmpOptimWrapper'
        wrapper.setdefault('loss_scale', 'dynamic')
    else:
        wrapper.type = 'CPUAmpOptimWrapper'
        wrapper.pop('loss_scale', None)
        wrapper.dtype = 'bfloat16'


# ---------------------------------------------------------------------------
# Exact resume: random number generator states in the checkpoint
# ---------------------------------------------------------------------------
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


@HOOKS.register_module(force=True)
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
    """
    priority = 'HIGHEST'

    def __init__(self):
        self._pending = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['rng_state'] = get_rng_state()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._pending = checkpoint.get('rng_state')
        if self._pending is None:
            print_log('the checkpoint has no random generator states '
                      '(written without ExactResumeHook); the resumed run '
                      'continues with freshly seeded generators',
                      logger='current', level=30)

    def before_train_epoch(self, runner) -> None:
        if self._pending is None:
            return
        loop = runner.train_loop
        done = getattr(loop, '_iter', 0)
        if isinstance(loop, IterBasedTrainLoop) and done > 0:
            iterator = loop.dataloader_iterator
            for _ in range(done):
                next(iterator)
            loop.dataloader_iterator = _SkippedIterator(iterator, done)
        set_rng_state(self._pending)
        self._pending = None


def register_exact_resume(runner) -> None:
    """Add :class:`ExactResumeHook` to ``runner`` (done by tools/train.py)."""
    runner.register_hook(ExactResumeHook())


# ---------------------------------------------------------------------------
# Auto resume that survives a truncated last_checkpoint / checkpoint
# ---------------------------------------------------------------------------
def _loads(path: str):
    try:
        obj = torch.load(path, map_location='cpu', weights_only=True)
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


# ---------------------------------------------------------------------------
# Distributed training on CPU (gloo) and SyncBN
# ---------------------------------------------------------------------------
SYNC_BN_TYPES = ('SyncBN', 'MMSyncBN', 'TorchSyncBN')


def _find_norm_types(node, path='model'):
    """Yield (path, dict) for every dict in ``node`` whose type is SyncBN."""
    if isinstance(node, dict):
        if node.get('type') in SYNC_BN_TYPES:
            yield path, node
        for k, v in node.items():
            yield from _find_norm_types(v, f'{path}.{k}')
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            yield from _find_norm_types(v, f'{path}[{i}]')


@MODEL_WRAPPERS.register_module(force=True)
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` for CPU modules: the Runner passes
    ``device_ids=[LOCAL_RANK]``, which DDP rejects for CPU modules."""

    def __init__(self, module, device_ids=None, **kwargs):
        super().__init__(module=module, device_ids=None, **kwargs)


def setup_distributed(cfg: Config, launcher: str) -> None:
    """Prepare ``cfg`` for a distributed run on a machine without CUDA.

    mmengine's pytorch launcher calls ``torch.cuda.set_device`` and the
    Runner wraps the model with ``device_ids=[LOCAL_RANK]``; neither works on
    CPU. Here the process group is initialised with gloo, the model wrapper
    drops ``device_ids``, and SyncBN (which torch runs on GPUs only) is
    refused before anything is built, unless ``revert_sync_bn=True`` asks
    for per-process BatchNorm instead.
    """
    if launcher == 'none':
        return
    if torch.cuda.is_available():
        return
    sync_bns = list(_find_norm_types(cfg.get('model', {})))
    if sync_bns:
        if not cfg.get('revert_sync_bn', False):
            raise RuntimeError(
                f'the config uses SyncBN ({", ".join(p for p, _ in sync_bns)}'
                '), which torch runs on GPUs only; this distributed run has '
                'no CUDA (torch would fail at the first training step with '
                '"SyncBatchNorm expected input tensor to be on GPU"). Set '
                "norm_cfg=dict(type='BN') in the config, or add --cfg-options"
                ' revert_sync_bn=True to use per-process BatchNorm (batch '
                'statistics are then not synchronised across processes).')
        for _, node in sync_bns:
            node['type'] = 'BN'
    if cfg.get('sync_bn'):
        raise RuntimeError("cfg.sync_bn converts BN to SyncBN, which needs "
                           'GPUs; remove it for a CPU run')
    env_cfg = dict(cfg.get('env_cfg') or {})
    env_cfg['dist_cfg'] = dict(env_cfg.get('dist_cfg') or {}, backend='gloo')
    cfg.env_cfg = env_cfg
    if launcher == 'pytorch':
        import torch.distributed as torch_dist
        if not torch_dist.is_initialized():
            kwargs = dict(env_cfg['dist_cfg'])
            kwargs.pop('backend')
            timeout = kwargs.pop('timeout', None)
            if timeout is not None:
                import datetime
                kwargs['timeout'] = datetime.timedelta(seconds=timeout)
            torch_dist.init_process_group(backend='gloo', **kwargs)
    wrapper = cfg.get('model_wrapper_cfg') or {}
    if wrapper.get('type', 'MMDistributedDataParallel') != \
            'MMDistributedDataParallel':
        raise RuntimeError(
            f"model_wrapper_cfg type {wrapper.get('type')} is not supported "
            'for CPU distributed training by tools/train.py')
    cfg.model_wrapper_cfg = dict(wrapper, type='CPUDistributedDataParallel')


# ---------------------------------------------------------------------------
# Class count of the heads vs the dataset
# ---------------------------------------------------------------------------
def _dataset_classes(dataset_cfg, task: str):
    """Class names a dataset config will have, or None if unknown."""
    while isinstance(dataset_cfg, dict) and 'dataset' in dataset_cfg:
        dataset_cfg = dataset_cfg['dataset']  # RepeatDataset, ClassBalanced..
    if not isinstance(dataset_cfg, dict):
        return None
    metainfo = dataset_cfg.get('metainfo') or {}
    if metainfo.get('classes') is not None:
        return tuple(metainfo['classes'])
    if task == 'mmdet':
        from mmdet.registry import DATASETS
    else:
        from mmseg.registry import DATASETS
    cls = DATASETS.get(dataset_cfg.get('type')) if isinstance(
        dataset_cfg.get('type'), str) else dataset_cfg.get('type')
    classes = getattr(cls, 'METAINFO', {}).get('classes') if cls else None
    return tuple(classes) if classes is not None else None


def _head_num_classes(model_cfg, task: str):
    """(config path, num_classes) of every classifier head in the model."""
    heads = []
    if task == 'mmdet':
        roi = model_cfg.get('roi_head') or {}
        for name in ('bbox_head', 'mask_head'):
            head = roi.get(name)
            for i, h in enumerate(head if isinstance(head, list) else [head]):
                if isinstance(h, dict) and 'num_classes' in h:
                    suffix = f'[{i}]' if isinstance(head, list) else ''
                    heads.append((f'model.roi_head.{name}{suffix}',
                                  h['num_classes']))
        bbox = model_cfg.get('bbox_head')  # one-stage detectors
        if isinstance(bbox, dict) and 'num_classes' in bbox:
            heads.append(('model.bbox_head', bbox['num_classes']))
    else:
        for name in ('decode_head', 'auxiliary_head'):
            head = model_cfg.get(name)
            for i, h in enumerate(head if isinstance(head, list) else [head]):
                if isinstance(h, dict) and 'num_classes' in h:
                    suffix = f'[{i}]' if isinstance(head, list) else ''
                    heads.append((f'model.{name}{suffix}', h['num_classes']))
    return heads


def check_num_classes(cfg: Config, task: str) -> None:
    """Raise before anything is built if a head's ``num_classes`` differs
    from the number of classes of the config's datasets.

    mmdet and mmseg do not check this: too many classes trains silently with
    dead outputs, too few fails deep in a loss or the evaluator with an index
    error, or labels are silently dropped."""
    heads = _head_num_classes(cfg.get('model', {}), task)
    if not heads:
        return
    for split in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(split)
        if not isinstance(loader, dict):
            continue
        classes = _dataset_classes(loader.get('dataset'), task)
        if classes is None:
            continue
        for path, num in heads:
            # mmseg binary segmentation: one sigmoid output for 2 classes
            if task == 'mmseg' and num == 1 and len(classes) == 2:
                continue
            if num != len(classes):
                shown = list(classes[:6]) + (['...'] if len(classes) > 6
                                             else [])
                raise ValueError(
                    f'{path}.num_classes={num}, but {split}.dataset has '
                    f'{len(classes)} classes {shown}. Set num_classes='
                    f'{len(classes)} in every head (roi_head bbox_head and '
                    'mask_head for Mask R-CNN; decode_head and auxiliary_head'
                    ' for mmseg), or give the dataset metainfo=dict(classes='
                    '(...)) with the classes the model should predict.')


def drop_backbone_pretrained(cfg: Config) -> None:
    """Do not load (nor require) the backbone's ImageNet file.

    For evaluating or running a trained checkpoint, which holds every weight;
    the backbone would otherwise insist on the file at build time.
    """
    backbone = cfg.model.get('backbone', {})
    if isinstance(backbone.get('init_cfg'), dict) and \
            backbone.init_cfg.get('type') == 'Pretrained':
        backbone.init_cfg = None
