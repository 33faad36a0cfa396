# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Draw a detector's boxes and masks on images (mmdet's DetInferencer).

    python tools/det_image_demo.py IMAGE [IMAGE ...] CONFIG CHECKPOINT \
        [--out-dir outputs/det_demo] [--score-thr 0.3] [--device cpu]

IMAGE may be a file or a folder (every image in it). One picture per image is
written to OUT_DIR/vis/ (and, with --save-pred, the predictions as JSON to
OUT_DIR/preds/).
"""
import argparse
import os.path as osp

import swiftformer_mm  # noqa: F401  registers SwiftFormer, safe checkpoint loading


def parse_args():
    parser = argparse.ArgumentParser(
        description='Draw detection boxes and instance masks on images')
    parser.add_argument('inputs', nargs='+',
                        help='image files or folders of images')
    parser.add_argument('config', help='detector config file')
    parser.add_argument('checkpoint', help='checkpoint written by train.py')
    parser.add_argument('--out-dir', default='outputs/det_demo',
                        help='pictures go to OUT_DIR/vis')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='draw predictions scoring at least this')
    parser.add_argument('--device', default=None,
                        help="e.g. 'cpu', 'cuda:0' (default: cuda if "
                        'available, else cpu)')
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--save-pred', action='store_true',
                        help='also write the predictions as JSON')
    return parser.parse_args()


def main():
    args = parse_args()
    for path in args.inputs + [args.config, args.checkpoint]:
        if not osp.exists(path):
            raise FileNotFoundError(f'{path!r} does not exist (resolved from '
                                    f'{osp.abspath(".")})')
    from mmengine.config import Config
    from mmdet.apis import DetInferencer

    cfg = Config.fromfile(args.config)
    # The checkpoint holds every weight; the backbone's ImageNet file is
    # neither needed nor checked for.
    backbone = cfg.model.get('backbone', {})
    if isinstance(backbone.get('init_cfg'), dict) and \
            backbone.init_cfg.get('type') == 'Pretrained':
        backbone.init_cfg = None
    inferencer = DetInferencer(model=cfg, weights=args.checkpoint,
                               device=args.device, show_progress=False)
    inputs = args.inputs[0] if len(args.inputs) == 1 and osp.isdir(
        args.inputs[0]) else args.inputs
    results = inferencer(
        inputs,
        batch_size=args.batch_size,
        pred_score_thr=args.score_thr,
        out_dir=args.out_dir,
        no_save_pred=not args.save_pred)
    num = len(results['predictions'])
    kept = [sum(s >= args.score_thr for s in p['scores'])
            for p in results['predictions']]
    print(f'{num} image(s), {sum(kept)} prediction(s) with score >= '
          f'{args.score_thr}; pictures in {osp.join(args.out_dir, "vis")}')


if __name__ == '__main__':
    main()
