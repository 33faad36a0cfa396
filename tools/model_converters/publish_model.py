# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Prepare a trained checkpoint for release, as mmdet's publish_model.py does:

    python tools/model_converters/publish_model.py IN.pth OUT.pth [--save-keys meta state_dict]

Keeps only ``meta`` and ``state_dict`` (the optimizer, schedulers, message
hub and random-generator states are training-only and make up most of the
file), and puts the first 8 hex digits of the file's sha256 in its name:
``OUT-1a2b3c4d.pth``, the form OpenMMLab model zoos use. The input is read
with torch's safe loading; the output is written atomically.
"""
import argparse
import hashlib
import io
import os.path as osp

import torch

import swiftformer_mm  # noqa: F401  (allow-lists Runner checkpoint classes)
from swiftformer_mm.checkpoint import atomic_write, safe_load


def publish(in_file: str, out_file: str,
            save_keys=('meta', 'state_dict')) -> str:
    """Write the published checkpoint; return its final path."""
    checkpoint = safe_load(in_file)
    if not isinstance(checkpoint, dict) or 'state_dict' not in checkpoint:
        raise SystemExit(f'{in_file} is not a checkpoint written by an '
                         'OpenMMLab Runner (no state_dict)')
    dropped = sorted(set(checkpoint) - set(save_keys))
    kept = {k: v for k, v in checkpoint.items() if k in save_keys}
    buf = io.BytesIO()
    torch.save(kept, buf)
    data = buf.getvalue()
    sha = hashlib.sha256(data).hexdigest()
    stem = out_file[:-4] if out_file.endswith('.pth') else out_file
    final = f'{stem}-{sha[:8]}.pth'
    atomic_write(data, final)
    print(f'{in_file} ({osp.getsize(in_file) / 2**20:.1f} MB) -> {final} '
          f'({len(data) / 2**20:.1f} MB); dropped {dropped or "nothing"}')
    return final


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('in_file', help='checkpoint written by tools/train.py')
    parser.add_argument('out_file', help='output name; the hash is appended')
    parser.add_argument('--save-keys', nargs='+', default=['meta',
                                                           'state_dict'],
                        help='keys of the checkpoint to keep')
    args = parser.parse_args()
    publish(args.in_file, args.out_file, args.save_keys)


if __name__ == '__main__':
    main()
