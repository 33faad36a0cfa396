# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Convert any supported SwiftFormer checkpoint to an OpenMMLab backbone file.

    python tools/model_converters/convert_checkpoint.py SwiftFormer_L1.pth swiftformer_l1_mm.pth
    python tools/model_converters/convert_checkpoint.py hf/model.safetensors out.pth
    python tools/model_converters/convert_checkpoint.py first_release_l1.pth out.pth \\
        --attn-formula legacy

Input: the authors' release (raw or wrapped in model/model_ema/state_dict),
Hugging Face (.safetensors/.bin), timm, or an OpenMMLab detector/segmentor
checkpoint. Output: ``{'state_dict': {'backbone.*': ...}, 'meta': {...}}`` with
the attention formula recorded in ``meta``, so later loads can refuse a
mismatch. The weights are validated by loading them into the backbone first;
the output file is written atomically.
"""
import argparse
import io
import os.path as osp

import torch

from swiftformer_mm.checkpoint import (FORMAT_ATTN_FORMULA, atomic_write,
                                       convert_swiftformer_state_dict,
                                       infer_arch, read_state_dict)
from swiftformer_mm.checkpoint.matching import describe_arch
from swiftformer_mm.models import SwiftFormer, adapt_state_dict


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='checkpoint to convert')
    parser.add_argument('dst', help='output .pth file')
    parser.add_argument(
        '--attn-formula', choices=['current', 'legacy'],
        help="formula the weights were trained with. Known for Hugging Face "
        "(legacy) and timm (current); the authors' files are taken as "
        'current (their release since 2023-07): pass legacy for a '
        'first-release (2023-03) file.')
    parser.add_argument('--prefix', help='take the weights under this key '
                        "prefix (default: 'backbone.' when present)")
    return parser.parse_args()


def convert(src: str, dst: str, attn_formula=None, prefix=None) -> dict:
    state_dict, meta = read_state_dict(src)
    converted, fmt = convert_swiftformer_state_dict(state_dict, prefix=prefix)
    known = meta.get('attn_formula') or FORMAT_ATTN_FORMULA.get(fmt)
    formula = attn_formula or known or 'current'
    arch = infer_arch(converted)
    if arch is None:
        raise SystemExit(f'{src}: cannot tell the SwiftFormer arch from its '
                         'weights; is it complete?')
    # The backbone's loading path applies every check a training run does
    # (arch, shapes, completeness, attention formula).
    model = SwiftFormer(arch, attn_formula=formula)
    usable, _ = adapt_state_dict(model, state_dict, meta, source=src,
                                 prefix=prefix)
    weights = {f'backbone.{k}': v for k, v in usable.items()}
    out_meta = dict(arch=arch, attn_formula=formula, source=osp.basename(src),
                    source_format=fmt)
    buf = io.BytesIO()
    torch.save(dict(state_dict=weights, meta=out_meta), buf)
    atomic_write(buf.getvalue(), dst)
    name = describe_arch(arch, SwiftFormer.arch_settings)
    print(f'{src}: {fmt} checkpoint, SwiftFormer {name}, {formula} '
          f'attention -> {dst} ({len(weights)} tensors)')
    return out_meta


def main():
    args = parse_args()
    convert(args.src, args.dst, args.attn_formula, args.prefix)


if __name__ == '__main__':
    main()
