# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Draw docs/images/deploy_mask_rcnn.png: how a deployed Mask R-CNN runs,
in ONNX Runtime / OpenVINO (one graph) and in ExecuTorch (three programs,
NMS and RoIAlign on the host).

    .venv/bin/python docs/images/deploy_mask_rcnn.py
"""
import os

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

HOST = '#e8e8e8'
GRAPH = '#cfe2ff'
PROGRAM = '#d4edda'
EDGE = '#444444'


def box(ax, x, y, w, h, text, color, size=8.5):
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle='round,pad=0.02,'
                                'rounding_size=0.08', fc=color, ec=EDGE,
                                lw=0.8))
    ax.text(x + w / 2, y + h / 2, text, ha='center', va='center',
            fontsize=size, wrap=True)


def arrow(ax, x0, y0, x1, y1):
    ax.annotate('', xy=(x1, y1), xytext=(x0, y0),
                arrowprops=dict(arrowstyle='->', color=EDGE, lw=0.9))


def row(ax, y, steps, title):
    """``steps``: (text, color, width); drawn left to right at height y."""
    ax.text(0.05, y + 0.92, title, fontsize=10, fontweight='bold',
            va='bottom')
    x = 0.05
    for i, (text, color, w) in enumerate(steps):
        box(ax, x, y, w, 0.8, text, color)
        if i:
            arrow(ax, x - 0.18, y + 0.4, x, y + 0.4)
        x += w + 0.18


def main(out=os.path.join(os.path.dirname(__file__),
                          'deploy_mask_rcnn.png')):
    fig, ax = plt.subplots(figsize=(13, 3.9), dpi=100)
    ax.set_xlim(0, 13.2)
    ax.set_ylim(0, 3.9)
    ax.axis('off')
    row(ax, 2.05, [
        ('image:\nresize, normalize\n(host)', HOST, 1.55),
        ('one graph: end2end.onnx / end2end.xml\nSwiftFormer -> FPN -> RPN -> NMS per level\n'
         '-> RoIAlign -> box head -> NMS\n-> RoIAlign -> mask head (28x28 logits)',
         GRAPH, 5.2),
        ('boxes rescaled,\nmasks pasted at\nimage size (host)', HOST, 1.75),
        ('DetDataSample\n(as mmdet)', HOST, 1.4),
    ], 'ONNX Runtime, OpenVINO (fp32 or INT8): everything but pre- and '
       'post-processing in one graph')
    row(ax, 0.25, [
        ('image:\nresize, normalize\n(host)', HOST, 1.4),
        ('program features:\nSwiftFormer, FPN,\nRPN convs', PROGRAM, 1.55),
        ('anchors, decode,\nNMS -> proposals\n(host, mmdet)', HOST, 1.5),
        ('RoIAlign\n(host, mmcv)', HOST, 1.1),
        ('program\nbbox_head', PROGRAM, 1.1),
        ('NMS, then\nRoIAlign (host)', HOST, 1.35),
        ('program\nmask_head', PROGRAM, 1.1),
        ('masks pasted\n(host)', HOST, 1.2),
    ], 'ExecuTorch (XNNPACK, fp32 or INT8): no NMS or RoIAlign kernels, '
       'so the host runs them between three programs')
    for color, label, x in ((GRAPH, 'runtime graph', 6.9),
                            (PROGRAM, 'ExecuTorch program (.pte)', 8.7),
                            (HOST, 'host code (Python: mmdet, mmcv)', 11.3)):
        ax.add_patch(FancyBboxPatch((x - 0.35, 3.6), 0.25, 0.2,
                                    boxstyle='round,pad=0.01', fc=color,
                                    ec=EDGE, lw=0.6))
        ax.text(x - 0.03, 3.7, label, fontsize=8.5, va='center')
    fig.savefig(out, bbox_inches='tight', dpi=100)
    print(out)


if __name__ == '__main__':
    main()
