# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Evaluate a deployed model on the model config's test set, with the same
metrics as tools/test.py (COCO box/mask AP, mIoU):

    python tools/deployment/deploy_test.py DEPLOY_CFG MODEL_CFG \
        --model DIR/end2end.onnx [--work-dir W]

For OpenVINO give DIR/end2end.xml. mmdeploy's own test runner does the work.
"""
import argparse
import json

from mmengine.config import DictAction

import swiftformer_mm  # noqa: F401  registers the models
from swiftformer_mm.export import pipeline


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('deploy_cfg', help='deploy config (configs/deploy/)')
    parser.add_argument('model_cfg', help='model config')
    parser.add_argument('--model', nargs='+', required=True,
                        help='the deployed model file(s)')
    parser.add_argument('--work-dir', default='work_dirs/deploy_test')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override model config settings, key=value')
    args = parser.parse_args()
    metrics = pipeline.evaluate(args.deploy_cfg, args.model_cfg, args.model,
                                args.work_dir, args.device, args.cfg_options)
    print(json.dumps({k: round(float(v), 4) for k, v in metrics.items()},
                     indent=1))


if __name__ == '__main__':
    main()
