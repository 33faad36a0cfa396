# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Deploy a trained detector or segmentor with mmdeploy, mmdeploy's interface:

    python tools/deployment/deploy.py DEPLOY_CFG MODEL_CFG CHECKPOINT IMAGE \
        --work-dir DIR
        [--device cpu] [--sizes HxW ...] [--calib N] [--cfg-options k=v ...]

Writes DIR/end2end.onnx (plus DIR/end2end.xml/.bin for OpenVINO), with the
SwiftFormer backbone in its fused deploy form, and beside it the files
mmdeploy's SDK loads the folder with (deploy.json, pipeline.json,
detail.json, as mmdeploy's own tools/deploy.py --dump-info writes them)
wherever the SDK computes what mmdet/mmseg/mmpretrain compute; where it
cannot, the tool says why and which deploy config to use for the SDK
(--no-sdk-files: leave them out). It then runs PyTorch (the
checkpoint as mmdet/mmseg run it) and the backend on IMAGE, and on IMAGE
resized to other sizes and aspect ratios (--sizes; by default two, neither
a multiple of 32), and prints how far apart their predictions are: a
dynamic-shape model must agree at every size. Deploy configs are in
configs/deploy/; evaluate the result with tools/deployment/deploy_test.py.

An *-int8_* deploy config also quantizes the model to INT8, calibrated on N
images of the model config's training set (--calib N, default the
config's); --cfg-options points the model config at that set if needed.
Then the fp32 model of the same runtime is exported beside it and both are
timed on IMAGE for about --speed-check-seconds (default 10): the tool says
whether INT8 is faster on this machine and, where it is not, what to use
(--no-speed-check leaves this out).
"""
import argparse
import os.path as osp
import time

from mmengine.config import Config, DictAction

from swiftformer_mm.analysis.timing import parse_size
from swiftformer_mm.analysis import records
from swiftformer_mm.cpu import (cpu_identity, cpu_int8_class, cpu_model,
                                int8_advice)
from swiftformer_mm.export import pipeline, sdk
from swiftformer_mm.export.speed_check import time_int8_against_fp32
from swiftformer_mm.inputs import load_image


def other_sizes(h: int, w: int):
    """Two sizes of other aspect ratios than ``h x w``, odd numbers."""
    return [((h * 3 // 4) | 1, (w * 5 // 4) | 1),
            ((h * 5 // 4) | 1, (w * 2 // 3) | 1)]


def write_sdk_files(deploy_cfg, model_cfg, files, args) -> None:
    """mmdeploy SDK's files beside the model, or why not (a note: the
    deployment itself is fine for every other host)."""
    try:
        paths = sdk.write_sdk_files(deploy_cfg, model_cfg, args.work_dir,
                                    files, args.checkpoint, args.device)
    except ValueError as e:
        print(f'note: no files for mmdeploy\'s SDK: {e}')
        return
    print(f'mmdeploy SDK files: {", ".join(paths)}')
    if 'masks' in deploy_cfg.get('onnx_config', {}).get('output_names', []):
        print(f'note: {sdk.SDK_MASK_RACE}')


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
    parser.add_argument('--sizes', nargs='*', type=parse_size,
                        help='HxW sizes to resize IMAGE to for the '
                        'comparison (default: two other aspect ratios; '
                        'none for a static-shape config)')
    parser.add_argument('--calib', type=int,
                        help='INT8 configs: number of training images to '
                        'calibrate on (default: the deploy config\'s)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override model config settings, key=value')
    parser.add_argument('--no-speed-check', action='store_true',
                        help='INT8 configs: do not time the INT8 model '
                        'against its fp32 twin on this machine')
    parser.add_argument('--no-sdk-files', action='store_true',
                        help="do not write mmdeploy SDK's deploy.json, "
                        'pipeline.json and detail.json')
    parser.add_argument('--speed-check-seconds', type=float, default=10.,
                        help='INT8 configs: about how long to time them '
                        '(default 10)')
    args = parser.parse_args()
    model_cfg = Config.fromfile(args.model_cfg)
    if args.cfg_options:
        model_cfg.merge_from_dict(args.cfg_options)
    deploy_cfg, _ = pipeline.load_configs(args.deploy_cfg, model_cfg)
    sizes = args.sizes
    if sizes is None:
        static = deploy_cfg.get('onnx_config', {}).get(
            'input_shape') is not None
        sizes = [] if static else other_sizes(*load_image(args.img).shape[:2])
    if deploy_cfg.get('quantization'):
        # INT8 pays where the CPU has 8-bit dot products: say which it has,
        # before minutes of calibration.
        runtime = deploy_cfg.backend_config.type
        arch = cpu_identity()['cpu_microarchitecture']
        recorded = dict(microarchitecture=arch,
                        ratios=records.recorded_int8_ratios(runtime, arch))
        print(f'INT8 on {cpu_model()} ({cpu_int8_class()}, {arch})')
        advice = int8_advice(runtime=runtime, recorded=recorded)
        if advice:
            print(f'note: {advice}')
    start = time.time()
    # ExecuTorch programs are static-shape: written for these sizes too
    files = pipeline.export(args.deploy_cfg, model_cfg, args.checkpoint,
                            args.img, args.work_dir, args.device, args.calib,
                            sizes)
    print(f'deployed to {", ".join(files)} in {time.time() - start:.0f} s')
    if not args.no_sdk_files:
        write_sdk_files(deploy_cfg, model_cfg, files, args)
    rows = pipeline.compare_at_sizes(args.deploy_cfg, model_cfg,
                                     args.checkpoint, files, args.img, sizes,
                                     args.device)
    keys = list(rows[0])
    print(f'\nPyTorch vs {deploy_cfg.backend_config.type} on {args.img}:\n')
    print('| ' + ' | '.join(keys) + ' |')
    print('|' + '---|' * len(keys))
    for row in rows:
        print('| ' + ' | '.join(f'{v:.4f}' if isinstance(v, float) else str(v)
                                for v in row.values()) + ' |')
    if deploy_cfg.get('quantization') and not args.no_speed_check:
        print(f'\nINT8 against fp32 {deploy_cfg.backend_config.type} on this '
              f'machine ({cpu_model()}, {cpu_int8_class()}), about '
              f'{args.speed_check_seconds:.0f} s:')
        timing = time_int8_against_fp32(
            args.deploy_cfg, model_cfg, args.checkpoint, args.img, files,
            args.work_dir, args.device, args.speed_check_seconds)
        fp32_config = args.deploy_cfg.replace('-int8', '')
        print(int8_advice(runtime=deploy_cfg.backend_config.type,
                          measured=timing, fp32_config=fp32_config
                          if osp.isfile(fp32_config) else ''))


if __name__ == '__main__':
    main()
