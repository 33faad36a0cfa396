# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Convert a checkpoint's SwiftFormer backbone to the deploy (fused) form.

    python tools/deploy_checkpoint.py IN.pth OUT.pth [--attn-formula current]

IN is an OpenMMLab detector/segmentor checkpoint (backbone under
``backbone.``; everything else is copied unchanged) or a bare backbone /
classification checkpoint in any layout the backbone loads (authors', timm,
Hugging Face; heads are dropped). The optimizer state is dropped (the deploy
form is for inference); ``meta`` is kept, with ``swiftformer_deploy=True``.
The file is written atomically.

Use the result with a config whose backbone has ``deploy=True``:

    python tools/test.py CONFIG OUT.pth --cfg-options model.backbone.deploy=True
"""
import argparse
import io
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import swiftformer_mm  # noqa: E402,F401  (allow-lists Runner checkpoint classes)
from swiftformer_mm.checkpoint import atomic_write  # noqa: E402
from swiftformer_mm.deploy import fuse_state_dict  # noqa: E402

DROPPED = ('optimizer', 'param_schedulers', 'message_hub', 'model_ema')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src')
    parser.add_argument('dst')
    parser.add_argument('--attn-formula', choices=['current', 'legacy'],
                        help='formula the weights were trained with (default:'
                        ' from the checkpoint meta or its format)')
    args = parser.parse_args()
    obj = torch.load(args.src, map_location='cpu', weights_only=True)
    if isinstance(obj, dict) and isinstance(obj.get('state_dict'), dict):
        container, key = obj, 'state_dict'
    elif isinstance(obj, dict) and isinstance(obj.get('model'), dict):
        container, key = obj, 'model'
    else:
        container, key = dict(state_dict=obj), 'state_dict'
    meta = dict(container.get('meta') or {})
    state_dict, info = fuse_state_dict(container[key], args.attn_formula,
                                       meta)
    out = {k: v for k, v in container.items() if k not in DROPPED}
    out.pop('model', None)
    out['state_dict'] = state_dict
    meta.update(swiftformer_deploy=True, attn_formula=info['attn_formula'])
    out['meta'] = meta
    buf = io.BytesIO()
    torch.save(out, buf)
    atomic_write(buf.getvalue(), args.dst)
    print(f'{args.src} ({info["format"]}, arch {info["arch"]}, '
          f'{info["attn_formula"]} formula) -> {args.dst} (deploy form, '
          f'{len(state_dict)} tensors)')


if __name__ == '__main__':
    main()
