# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""What the CPU can do for INT8: the figures records name it, and the deploy
tool says before it quantizes whether INT8 can pay here.

Example:
    >>> from swiftformer_mm.cpu import cpu_int8_class
    >>> cpu_int8_class({'avx2', 'avx512_vnni'})
    'AVX-512 VNNI'
"""
import contextlib
import os
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


#: Microarchitectures by (vendor, family, model) as /proc/cpuinfo gives
#: them (from the vendors' published CPUID tables). Under a hypervisor the
#: model name may be generic ("AMD EPYC", "Intel Xeon Processor"), while
#: these numbers still tell the cores apart, and INT8's speed depends on
#: them (a Zen 1 core runs 256-bit AVX2 as two 128-bit halves).
MICROARCHITECTURES = {
    ('AuthenticAMD', 23, 1): 'Zen', ('AuthenticAMD', 23, 8): 'Zen+',
    ('AuthenticAMD', 23, 17): 'Zen', ('AuthenticAMD', 23, 24): 'Zen+',
    ('AuthenticAMD', 23, 49): 'Zen 2', ('AuthenticAMD', 23, 96): 'Zen 2',
    ('AuthenticAMD', 23, 113): 'Zen 2', ('AuthenticAMD', 25, 1): 'Zen 3',
    ('AuthenticAMD', 25, 33): 'Zen 3', ('AuthenticAMD', 25, 80): 'Zen 3',
    ('AuthenticAMD', 25, 17): 'Zen 4', ('AuthenticAMD', 25, 97): 'Zen 4',
    ('AuthenticAMD', 25, 160): 'Zen 4c', ('AuthenticAMD', 26, 2): 'Zen 5',
    ('AuthenticAMD', 26, 17): 'Zen 5',
    ('GenuineIntel', 6, 63): 'Haswell', ('GenuineIntel', 6, 79): 'Broadwell',
    ('GenuineIntel', 6, 85): 'Skylake-SP / Cascade Lake',
    ('GenuineIntel', 6, 106): 'Ice Lake-SP', ('GenuineIntel', 6, 143):
    'Sapphire Rapids', ('GenuineIntel', 6, 207): 'Emerald Rapids',
    ('GenuineIntel', 6, 173): 'Granite Rapids',
}


def _cpuinfo_fields() -> dict:
    """The first processor's ``key: value`` lines of ``/proc/cpuinfo``."""
    fields = {}
    with contextlib.suppress(OSError):
        with open('/proc/cpuinfo') as f:
            for line in f:
                if not line.strip():
                    break
                key, _, value = line.partition(':')
                fields[key.strip()] = value.strip()
    return fields


def _caches() -> dict:
    """``{'L1d': '48K', 'L2': '2048K', ...}`` of the first CPU (sysfs)."""
    out = {}
    root = '/sys/devices/system/cpu/cpu0/cache'
    with contextlib.suppress(OSError):
        for index in sorted(os.listdir(root)):
            folder = os.path.join(root, index)
            if not index.startswith('index'):
                continue
            with contextlib.suppress(OSError):
                def read(name, folder=folder):
                    with open(os.path.join(folder, name)) as f:
                        return f.read().strip()
                kind = read('type')
                name = f"L{read('level')}" + {'Data': 'd', 'Instruction': 'i'
                                             }.get(kind, '')
                out[name] = read('size')
    return out


def cpu_identity() -> dict:
    """What tells this CPU apart from another of the same name: vendor,
    family, model and stepping (as ``lscpu`` shows them), the
    microarchitecture where :data:`MICROARCHITECTURES` knows it, the cache
    sizes, and whether it runs under a hypervisor. Empty values where the
    system does not say (e.g. no ``/proc/cpuinfo``)."""
    fields = _cpuinfo_fields()

    def number(key):
        try:
            return int(fields[key])
        except (KeyError, ValueError):
            return None
    vendor = fields.get('vendor_id', '')
    family, model = number('cpu family'), number('model')
    return dict(
        cpu_vendor=vendor, cpu_family=family, cpu_model_number=model,
        cpu_stepping=number('stepping'),
        cpu_microarchitecture=MICROARCHITECTURES.get((vendor, family, model),
                                                     'unknown'),
        cpu_caches=_caches(),
        hypervisor='hypervisor' in fields.get('flags', '').split())


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


def int8_advice(flags=None, runtime: str = '', measured=None,
                fp32_config: str = '', recorded=None) -> str:
    """What INT8 is worth on this CPU for ``runtime`` (``'onnxruntime'``,
    ``'openvino'``, ...), in a line or two.

    ``measured`` (``fp32_ms``, ``int8_ms``, ``ratio``: the INT8 and fp32
    models of the runtime timed on this machine,
    :func:`swiftformer_mm.export.speed_check.time_int8_against_fp32`) comes
    first: where INT8 is not faster it says so plainly and names the faster
    choice (``fp32_config``, or the other runtime). ``recorded`` (the
    records' INT8 / fp32 ratios of this runtime on CPUs of this
    microarchitecture, :func:`swiftformer_mm.analysis.records.
    recorded_int8_ratios`, with ``microarchitecture``) comes second; what
    is known of the CPU's class last, where the CPU has no 8-bit dot
    products. Empty where there is nothing to say.
    """
    lines = []
    if measured:
        timing = (f"INT8 {measured['int8_ms']:.0f} ms against fp32 "
                  f"{measured['fp32_ms']:.0f} ms per image "
                  f"({measured['ratio']:.2f}x)")
        if measured['ratio'] >= 1:
            other = ('*_openvino-int8_*' if runtime == 'onnxruntime' else
                     '*_onnxruntime-int8_*')
            fp32 = fp32_config or ('the same deploy config without '
                                   'quantization')
            lines.append(
                f'INT8 is NOT faster than fp32 on this CPU: {timing}. Use '
                f'the fp32 model ({fp32}) here, or measure the other '
                f"runtime's INT8 ({other} deploy configs).")
        else:
            lines.append(f'INT8 pays on this CPU: {timing}.')
    if recorded and recorded.get('ratios'):
        ratios = recorded['ratios']
        shown = ' / '.join(f'{r:.2f}x' for r in ratios)
        verdict = ('INT8 was not faster than fp32 there'
                   if min(ratios) >= 1 else 'INT8 was faster there'
                   if max(ratios) < 1 else 'INT8 was faster in some runs '
                   'only')
        lines.append(
            f"the records' {runtime} INT8 on this microarchitecture "
            f"({recorded['microarchitecture']}, the L1 backbone, "
            f'benchmark.py quantized-backbone): {shown} of fp32\'s time; '
            f'{verdict}')
    kind = cpu_int8_class(flags)
    if kind not in ('AMX', 'AVX-512 VNNI', 'AVX-VNNI'):
        advice = (f'this CPU has no VNNI ({kind}): INT8 products run through '
                  '16-bit intermediates, so INT8 gains less here than on '
                  'VNNI CPUs and its accuracy can differ (docs/benchmarks.md '
                  'and docs/deployment.md give the figures per CPU kind)')
        if runtime == 'onnxruntime':
            advice += ('; ONNX Runtime INT8 in particular gained less than '
                       'OpenVINO INT8 on such a CPU (the backbone alone: '
                       'little): consider the *_openvino-int8_* deploy '
                       'configs')
        lines.append(advice)
    return '\n'.join(lines)
