# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Config handling shared by the tools: task, class counts, pretrained files."""

from mmengine.config import Config

TASKS = ('mmdet', 'mmseg')


def setup_task(cfg: Config) -> str:
    """Return the config's task ('mmdet' or 'mmseg'), checking it is one."""
    task = cfg.get('default_scope')
    if task not in TASKS:
        raise ValueError(
            f"config default_scope is {task!r}; these tools run mmdet or mmseg "
            "configs (inherit one of their bases, which set default_scope)")
    return task


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
