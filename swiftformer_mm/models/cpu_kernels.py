# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Inference-only CPU fast paths of the SwiftFormer blocks, and when they apply.

The blocks in :mod:`.blocks` compute the paper's math with plain modules.
This file holds the same math rearranged for eager CPU inference, where
PyTorch's ``nn.Conv2d`` is slow for 1x1 convolutions on large maps:

* :func:`pointwise_mlp`: the two 1x1 convs of an MLP as tiled matmuls, on
  channels-first or channels_last memory.

(The fused attention's channels_last path is a method of its block,
:class:`~.blocks.DeployAttention`, tested against the reference
:func:`~.blocks.efficient_additive_attention`.)

Nothing here runs under autograd, on CUDA, while tracing (ONNX export, FLOP
counting) or under ``torch.compile``: :func:`use_fast_path` decides.
"""
import torch
import torch.nn as nn

from ..compat import is_compiling

#: Token tile of :func:`pointwise_mlp`; maps with fewer than twice as many
#: tokens run in one piece.
MLP_TILE = 4096


def use_fast_path(x: torch.Tensor) -> bool:
    """Eager CPU inference, where the kernels below may replace modules."""
    return (x.device.type == 'cpu' and not torch.is_grad_enabled()
            and not torch.jit.is_tracing() and not torch.jit.is_scripting()
            and not is_compiling())


def use_large_map_fast_path(x: torch.Tensor) -> bool:
    """The training form takes the tiled-matmul MLP only where it pays: on
    maps large enough to be tiled (measured at L1, 1 thread: 0.84x the
    latency of nn.Conv2d at 800x1344, but 1.13x at 224x224)."""
    return use_fast_path(x) and x.shape[-2] * x.shape[-1] >= 2 * MLP_TILE


def is_channels_last(x: torch.Tensor) -> bool:
    return x.dim() == 4 and x.stride(1) == 1 and x.is_contiguous(
        memory_format=torch.channels_last)


def pointwise_mlp(x: torch.Tensor, residual: torch.Tensor,
                  w1: torch.Tensor, b1: torch.Tensor, act: nn.Module,
                  w2: torch.Tensor, b2: torch.Tensor) -> torch.Tensor:
    """``residual + conv1x1(act(conv1x1(x, w1, b1)), w2, b2)``, CPU inference.

    Same math as the two 1x1 convolutions, computed as matmuls tile by tile
    over the tokens, so that the 4x-wide hidden activation of a tile stays in
    cache. On 2 CPU cores this is about 2x faster than ``nn.Conv2d`` at the
    1/4-scale stage of an 800x1344 image.
    """
    B, C, H, W = x.shape
    N = H * W
    w1, w2 = w1.flatten(1), w2.flatten(1)
    if is_channels_last(x) and is_channels_last(residual):
        # Tokens are rows: (B*N, C) views, no copy; out stays channels_last.
        tokens = x.permute(0, 2, 3, 1).reshape(B * N, C)
        res = residual.permute(0, 2, 3, 1).reshape(B * N, -1)
        out = torch.empty_like(res)
        w1t, w2t = w1.t(), w2.t()
        rows = B * N
        step = rows if rows < 2 * MLP_TILE else MLP_TILE
        for i in range(0, rows, step):
            hidden = act(torch.addmm(b1, tokens[i:i + step], w1t))
            torch.addmm(res[i:i + step], hidden, w2t, out=out[i:i + step])
        return out.add_(b2).view(B, H, W, -1).permute(0, 3, 1, 2)
    b1, b2 = b1.unsqueeze(1), b2.unsqueeze(1)
    tokens = x.reshape(B, C, N)
    res = residual.reshape(B, -1, N)
    out = torch.empty_like(res, memory_format=torch.contiguous_format)
    step = N if N < 2 * MLP_TILE else MLP_TILE
    for b in range(B):
        for i in range(0, N, step):
            hidden = act(torch.addmm(b1, w1, tokens[b, :, i:i + step]))
            tile = torch.addmm(res[b, :, i:i + step], w2, hidden)
            out[b, :, i:i + step] = tile.add_(b2)
    return out.view(B, -1, H, W)

