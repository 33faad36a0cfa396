# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Run a deployed model on your own images, as mmdet's and mmseg's image
demos do, with the library's own inferencer around the deployed model
(swiftformer_mm.export.pipeline.deployed_inferencer):

    python tools/deployment/predict.py DEPLOY_CFG MODEL_CFG MODEL_FILE \
        IMAGE_OR_FOLDER [...] [--out-dir outputs/deployed] [--score-thr 0.3]

MODEL_FILE is what tools/deployment/deploy.py wrote (end2end.onnx,
end2end.xml, end2end-int8.*, or executorch.json for ExecuTorch). One
picture per image goes to OUT_DIR/vis/; detections and class scores also go
to OUT_DIR/preds/ as JSON (mmdet's and mmpretrain's inferencers write them),
segmentation class maps as PNG (class index per pixel).
"""
import argparse
import os.path as osp

import mmcv
import mmengine
import numpy as np
from mmengine.config import Config

from swiftformer_mm.export.mmdeploy_compat import mmdeploy_patched
from swiftformer_mm.export.pipeline import deployed_inferencer
from swiftformer_mm.inputs import image_files, load_image


def predict(inferencer, scope, image, score_thr):
    """The inferencer's prediction of one image and its picture (RGB)."""
    if scope == 'mmpretrain':  # draws only into a folder (show_dir)
        import glob
        import tempfile
        with tempfile.TemporaryDirectory() as folder:
            pred = inferencer(image, show_dir=folder)[0]
            (drawn, ) = glob.glob(osp.join(folder, '*.png'))
            return pred, mmcv.imread(drawn, channel_order='rgb')
    kwargs = dict(return_vis=True)
    if scope == 'mmdet':
        kwargs.update(pred_score_thr=score_thr, no_save_vis=True,
                      no_save_pred=True)
    result = inferencer(image, **kwargs)
    pred, picture = result['predictions'], result['visualization']
    return (pred[0] if isinstance(pred, list) else pred,
            picture[0] if isinstance(picture, list) else picture)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('deploy_cfg', help='the deploy config it was '
                        'deployed with (configs/deploy/)')
    parser.add_argument('model_cfg', help='the model config')
    parser.add_argument('model', nargs='+', help='deployed model file(s), '
                        'then images or folders of images')
    parser.add_argument('--out-dir', default='outputs/deployed')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='detections drawn and saved: at least this')
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args()
    models = [p for p in args.model if p.endswith(
        ('.onnx', '.xml', '.json', '.pte'))]
    files = image_files(args.model[len(models):])
    if not models:
        parser.error('give the deployed model file first (end2end.onnx, '
                     'end2end.xml, ..., executorch.json)')
    model_cfg = Config.fromfile(args.model_cfg)
    images = [load_image(path) for path in files]  # clear errors first
    with mmdeploy_patched():
        inferencer = deployed_inferencer(args.deploy_cfg, model_cfg, models,
                                         args.device)
        scope = model_cfg.default_scope
        results = [predict(inferencer, scope, img, args.score_thr)
                   for img in images]
    for path, (pred, picture) in zip(files, results):
        name = osp.splitext(osp.basename(path))[0]
        mmcv.imwrite(np.ascontiguousarray(picture[..., ::-1]),
                     osp.join(args.out_dir, 'vis', name + '.png'))
        if scope == 'mmseg':  # (H, W) class indices
            mmcv.imwrite(np.asarray(pred).astype(np.uint8),
                         osp.join(args.out_dir, 'preds', name + '.png'))
            summary = f'classes {np.unique(pred).tolist()}'
        else:
            mmengine.dump(pred, osp.join(args.out_dir, 'preds',
                                         name + '.json'))
            summary = (f"{sum(s >= args.score_thr for s in pred['scores'])} "
                       f'detections scoring at least {args.score_thr}'
                       if scope == 'mmdet' else
                       f"class {pred['pred_label']} "
                       f"({pred['pred_score']:.3f})")
        print(f'{path}: {summary}')
    print(f'{len(files)} image(s): pictures in '
          f'{osp.join(args.out_dir, "vis")}, predictions in '
          f'{osp.join(args.out_dir, "preds")}')


if __name__ == '__main__':
    main()
