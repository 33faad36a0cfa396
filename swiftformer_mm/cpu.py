# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""What the CPU can do for INT8: the figures records name it, and the deploy
tool says before it quantizes whether INT8 can pay here.

Example:
    >>> from swiftformer_mm.cpu import cpu_int8_class
    >>> cpu_int8_class({'avx2', 'avx512_vnni'})
    'AVX-512 VNNI'
"""
import contextlib
import platform

#: CPU flags (``/proc/cpuinfo``) that decide how INT8 and bf16 kernels run.
ISA_FLAGS = ('avx2', 'avx512f', 'avx512bw', 'avx512_vnni', 'avx_vnni',
             'avx512_bf16', 'amx_tile', 'amx_int8', 'amx_bf16')


def cpu_flags() -> set:
    """The CPU's flags from ``/proc/cpuinfo`` (empty where there is none)."""
    with contextlib.suppress(OSError):
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('flags'):
                    return set(line.split(':', 1)[1].split())
    return set()


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    return platform.processor() or platform.machine()


def cpu_int8_class(flags=None) -> str:
    """The CPU's best INT8 dot-product instructions, which decide whether
    INT8 pays: ``'AMX'``, ``'AVX-512 VNNI'``, ``'AVX-VNNI'``, ``'AVX2 only'``
    (8-bit products through 16-bit intermediates, which can saturate) or
    ``'no AVX2'``."""
    flags = cpu_flags() if flags is None else set(flags)
    if 'amx_int8' in flags:
        return 'AMX'
    if 'avx512_vnni' in flags:
        return 'AVX-512 VNNI'
    if 'avx_vnni' in flags:
        return 'AVX-VNNI'
    return 'AVX2 only' if 'avx2' in flags else 'no AVX2'


def int8_advice(flags=None, runtime: str = '') -> str:
    """What INT8 is worth on this CPU for ``runtime`` (``'onnxruntime'``,
    ``'openvino'``, ...), in a line or two; empty where the CPU has 8-bit
    dot-product instructions."""
    kind = cpu_int8_class(flags)
    if kind in ('AMX', 'AVX-512 VNNI', 'AVX-VNNI'):
        return ''
    advice = (f'this CPU has no VNNI ({kind}): INT8 products run through '
              '16-bit intermediates, so INT8 gains less here than on VNNI '
              'CPUs and its accuracy can differ (docs/benchmarks.md and '
              'docs/deployment.md give the figures per CPU kind)')
    if runtime == 'onnxruntime':
        advice += ('; ONNX Runtime INT8 in particular gained less than '
                   'OpenVINO INT8 on such a CPU (the backbone alone: '
                   'little): consider the *_openvino-int8_* deploy configs')
    return advice
