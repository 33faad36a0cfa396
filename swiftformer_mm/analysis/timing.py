# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Timing that survives a noisy shared machine: candidates run interleaved
(round-robin, one call each per repeat) in one process, and medians are
compared as ratios."""
import os
import statistics
import time

import torch


def sync(device):
    if device == 'cuda':
        torch.cuda.synchronize()


def interleaved(fns: dict, repeats: int, device='cpu', warmup=2) -> dict:
    """Median seconds per call of each function, measured round-robin."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    sync(device)
    times = {k: [] for k in fns}
    for r in range(repeats):
        order = list(fns.items())
        if r % 2:
            order.reverse()  # no candidate always runs right after another
        for name, fn in order:
            sync(device)
            t0 = time.perf_counter()
            fn()
            sync(device)
            times[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def machine() -> str:
    """The CPU (with its INT8 instruction class), threads and load: printed
    with every table, since ratios move with all three."""
    from ..cpu import cpu_identity, cpu_int8_class, cpu_model
    load = os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')
    gpu = (torch.cuda.get_device_name() if torch.cuda.is_available() else
           'no GPU')
    # as the docs' tables label a record: KVM names many CPUs alike
    ident = cpu_identity()
    family = '' if ident.get('cpu_family') is None else (
        f", family {ident['cpu_family']} model "
        f"{ident.get('cpu_model_number', '?')}" +
        ('' if ident.get('cpu_microarchitecture', 'unknown') == 'unknown'
         else f", {ident['cpu_microarchitecture']}"))
    return (f'{cpu_model()}{family} ({cpu_int8_class()}), '
            f'{os.cpu_count()} cores, '
            f'torch {torch.__version__}, {torch.get_num_threads()} threads, '
            f'{gpu}, load avg {load:.2f}')


def parse_size(s: str):
    """``'800x1344'`` -> ``(800, 1344)`` (H, W)."""
    h, w = s.lower().split('x')
    return int(h), int(w)
