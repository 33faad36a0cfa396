# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Config handling shared by the tools: task, class counts, pretrained files,
image folders."""
import importlib
import os
import os.path as osp

from mmengine.config import Config

TASKS = ('mmdet', 'mmseg', 'mmpretrain')


def setup_task(cfg: Config) -> str:
    """Return the config's task ('mmdet', 'mmseg' or 'mmpretrain'),
    checking it is one."""
    task = cfg.get('default_scope')
    if task not in TASKS:
        raise ValueError(
            f"config default_scope is {task!r}; these tools run mmdet, mmseg "
            "or mmpretrain configs (inherit one of their bases, which set "
            "default_scope)")
    return task


def _unwrap_dataset(dataset_cfg):
    while isinstance(dataset_cfg, dict) and 'dataset' in dataset_cfg:
        dataset_cfg = dataset_cfg['dataset']  # RepeatDataset, ClassBalanced..
    return dataset_cfg


def _dataset_classes(dataset_cfg, task: str):
    """Class names a dataset config will have, or None if unknown."""
    dataset_cfg = _unwrap_dataset(dataset_cfg)
    if not isinstance(dataset_cfg, dict):
        return None
    metainfo = dataset_cfg.get('metainfo') or {}
    if metainfo.get('classes') is not None:
        return tuple(metainfo['classes'])
    DATASETS = importlib.import_module(f'{task}.registry').DATASETS
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
    elif task == 'mmpretrain':
        head = model_cfg.get('head')
        if isinstance(head, dict) and 'num_classes' in head:
            heads.append(('model.head', head['num_classes']))
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
                    ' for mmseg; head for mmpretrain), or give the dataset metainfo=dict(classes='
                    '(...)) with the classes the model should predict.')


def check_pretrained_files(cfg: Config) -> None:
    """Stop at once if a SwiftFormer backbone's ``init_cfg`` names a local
    file that is not there (the same check and message as the backbone's
    ``init_weights``, which runs only after the data sets are built)."""
    from ..models import SwiftFormer
    backbone = cfg.get('model', {}).get('backbone')
    if not isinstance(backbone, dict) or str(backbone.get('type', '')).split(
            '.')[-1] != 'SwiftFormer':
        return
    init_cfg = backbone.get('init_cfg')
    if isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained':
        SwiftFormer.check_pretrained_file(init_cfg.get('checkpoint'))


def check_image_folders(cfg: Config,
                        splits=('train_dataloader', 'val_dataloader',
                                'test_dataloader')) -> None:
    """For classification datasets read from folders (mmpretrain's
    ``ImageNet``, ``CustomDataset``), check that the folders of ``splits``
    (the data loaders the command reads) are there and laid out as the
    dataset will read them, before anything is built.

    mmpretrain reads ``DATA_ROOT/SPLIT`` with the labels from
    ``DATA_ROOT/meta/SPLIT.txt`` when that file exists, else from one
    sub-folder per class; a flat ImageNet val folder without ``meta/val.txt``
    or a wrong ``data_root`` otherwise fails deep in dataset code, or (no
    class folders) finds no images at all. ``tools/test.py`` reads the test
    loader only: checking ImageNet's train folder there would refuse a user
    who has just the val set to check downloaded weights with.
    """
    for split in splits:
        loader = cfg.get(split)
        dataset = _unwrap_dataset(loader.get('dataset')) if isinstance(
            loader, dict) else None
        if not isinstance(dataset, dict) or dataset.get('type') not in (
                'ImageNet', 'CustomDataset'):
            continue
        root = dataset.get('data_root', '')
        prefix = dataset.get('data_prefix') or dataset.get('split') or ''
        prefix = prefix.get('img_path', '') if isinstance(prefix,
                                                          dict) else prefix
        folder = osp.join(root, prefix)
        ann = dataset.get('ann_file') or (
            osp.join('meta', f"{dataset['split']}.txt")
            if dataset.get('split') else '')
        ann_path = osp.join(root, ann) if ann else ''
        layout = ('expected DATA_ROOT/train/<class>/*.JPEG and DATA_ROOT/val/ '
                  'with DATA_ROOT/meta/val.txt (lines "ILSVRC2012_val_00000001'
                  '.JPEG 65") or one sub-folder per class')
        if not osp.isdir(folder):
            raise FileNotFoundError(
                f'{split}.dataset: image folder {folder!r} does not exist '
                f'(resolved from {osp.abspath(".")}); {layout}. Point '
                f'--cfg-options {split}.dataset.data_root=PATH at it.')
        if ann_path and osp.isfile(ann_path):
            continue
        if dataset.get('ann_file'):
            raise FileNotFoundError(
                f'{split}.dataset: annotation file {ann_path!r} does not '
                f'exist; {layout}.')
        if not any(entry.is_dir() for entry in os.scandir(folder)):
            raise ValueError(
                f'{split}.dataset: {folder!r} has no class sub-folders and '
                f'there is no {osp.join(root, "meta", "<split>.txt")} with '
                f'the labels; {layout}.')


def check_trainable_head(cfg: Config) -> None:
    """mmpretrain's ``EfficientFormerClsHead(distillation=True)`` (the two
    heads of the released weights) refuses to compute a loss, at the first
    training step; say so before anything is read."""
    head = cfg.get('model', {}).get('head')
    if isinstance(head, dict) and head.get('type') == \
            'EfficientFormerClsHead' and head.get('distillation', True):
        raise ValueError(
            'model.head is EfficientFormerClsHead with distillation=True: the '
            "authors' two heads, which mmpretrain can evaluate but not train "
            '(their teacher, RegNetY-16GF with hard distillation, has no '
            'mmpretrain counterpart). To train, add --cfg-options '
            'model.head.distillation=False: one head, the authors\' '
            '--distillation-type none model.')
