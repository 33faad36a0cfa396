# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Deploy a trained detector or segmentor with mmdeploy, mmdeploy's interface:

    python tools/deploy.py DEPLOY_CFG MODEL_CFG CHECKPOINT IMAGE --work-dir DIR [--device cpu]

Writes DIR/end2end.onnx (plus DIR/end2end.xml/.bin for OpenVINO), with the
SwiftFormer backbone in its fused deploy form, then runs PyTorch and the
backend on IMAGE and prints how far apart their predictions are. Deploy
configs are in configs/deploy/; evaluate the result with tools/deploy_test.py.
"""
import argparse
import json
import time

import swiftformer_mm  # noqa: F401  registers the models
from swiftformer_mm.export import pipeline


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('deploy_cfg', help='deploy config (configs/deploy/)')
    parser.add_argument('model_cfg', help='model config')
    parser.add_argument('checkpoint', help='checkpoint of the model')
    parser.add_argument('img', help='image to export with and compare on')
    parser.add_argument('--work-dir', required=True,
                        help='where the deployed files go')
    parser.add_argument('--device', default='cpu',
                        help='device of the PyTorch model (cpu)')
    args = parser.parse_args()
    start = time.time()
    files = pipeline.export(args.deploy_cfg, args.model_cfg, args.checkpoint,
                            args.img, args.work_dir, args.device)
    print(f'deployed to {", ".join(files)} in {time.time() - start:.0f} s')
    ours, theirs = pipeline.predict_both(args.deploy_cfg, args.model_cfg,
                                         args.checkpoint, files, args.img,
                                         args.device)
    stats = pipeline.compare(ours, theirs)
    print('PyTorch vs backend on', args.img + ':',
          json.dumps(stats, indent=1))


if __name__ == '__main__':
    main()
