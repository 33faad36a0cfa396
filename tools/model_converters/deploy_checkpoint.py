# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Convert a checkpoint's SwiftFormer backbone to the deploy (fused) form.

    python tools/model_converters/deploy_checkpoint.py IN OUT.pth [--attn-formula current]

IN is an OpenMMLab detector/segmentor checkpoint (backbone under
``backbone.``; every other tensor is copied unchanged) or a bare backbone /
classification checkpoint in any format the backbone loads (authors',
timm, Hugging Face ``.safetensors``/``.bin``; heads are dropped), read as
the backbone reads it (:func:`swiftformer_mm.checkpoint.read_state_dict`).
The optimizer state and everything else that only training needs is
dropped; ``meta`` is kept, with ``swiftformer_deploy=True``. The file is
written atomically.

Use the result with a config whose backbone has ``deploy=True``:

    python tools/test.py CONFIG OUT.pth --cfg-options model.backbone.deploy=True
"""
import argparse
import io

import torch

from swiftformer_mm.checkpoint import atomic_write, read_state_dict
from swiftformer_mm.models import fuse_state_dict


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src')
    parser.add_argument('dst')
    parser.add_argument('--attn-formula', choices=['current', 'legacy'],
                        help='formula the weights were trained with (default:'
                        ' from the checkpoint meta or its format)')
    args = parser.parse_args()
    state_dict, meta = read_state_dict(args.src)
    state_dict, info = fuse_state_dict(state_dict, args.attn_formula, meta)
    meta = dict(meta, swiftformer_deploy=True,
                attn_formula=info['attn_formula'])
    buf = io.BytesIO()
    torch.save(dict(state_dict=state_dict, meta=meta), buf)
    atomic_write(buf.getvalue(), args.dst)
    print(f'{args.src} ({info["format"]}, arch {info["arch"]}, '
          f'{info["attn_formula"]} formula) -> {args.dst} (deploy form, '
          f'{len(state_dict)} tensors)')


if __name__ == '__main__':
    main()
