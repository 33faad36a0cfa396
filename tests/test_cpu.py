"""The CPU's INT8 class, which the records name and the deploy tool reports
before it quantizes."""
from swiftformer_mm.cpu import cpu_int8_class, int8_advice


def test_int8_class_is_the_best_dot_product_the_cpu_has():
    assert cpu_int8_class({'avx2', 'avx512f', 'avx512_vnni', 'amx_int8',
                           'amx_tile'}) == 'AMX'
    assert cpu_int8_class({'avx2', 'avx512f', 'avx512_vnni'}) == \
        'AVX-512 VNNI'
    assert cpu_int8_class({'avx2', 'avx_vnni'}) == 'AVX-VNNI'
    assert cpu_int8_class({'avx2', 'fma'}) == 'AVX2 only'
    assert cpu_int8_class({'sse4_2'}) == 'no AVX2'


def test_advice_only_where_int8_has_no_vnni():
    assert int8_advice({'avx2', 'avx512_vnni'}) == ''
    assert int8_advice({'avx2', 'avx_vnni'}) == ''
    advice = int8_advice({'avx2'})
    assert 'no VNNI (AVX2 only)' in advice and 'docs/benchmarks.md' in advice
    # and where one runtime's INT8 is no gain there, which to take instead
    assert 'ONNX Runtime INT8' not in advice
    ort = int8_advice({'avx2'}, runtime='onnxruntime')
    assert ort.startswith(advice) and 'openvino-int8' in ort
    assert int8_advice({'avx2', 'avx512_vnni'}, runtime='onnxruntime') == ''


def test_cpu_identity_tells_apart_cpus_that_share_a_name(monkeypatch):
    """Under KVM both AMD CPUs of the records are just "AMD EPYC"; family,
    model and stepping, and so the microarchitecture, still differ."""
    from swiftformer_mm import cpu
    zen1 = {'vendor_id': 'AuthenticAMD', 'cpu family': '23', 'model': '1',
            'stepping': '2', 'model name': 'AMD EPYC',
            'flags': 'fpu avx2 hypervisor'}
    monkeypatch.setattr(cpu, '_cpuinfo_fields', lambda: zen1)
    ident = cpu.cpu_identity()
    assert (ident['cpu_vendor'], ident['cpu_family'],
            ident['cpu_model_number'], ident['cpu_stepping'],
            ident['cpu_microarchitecture'], ident['hypervisor']) == (
        'AuthenticAMD', 23, 1, 2, 'Zen', True)
    monkeypatch.setattr(cpu, '_cpuinfo_fields', lambda: dict(
        zen1, **{'cpu family': '25', 'model': '1', 'flags': 'avx2'}))
    ident = cpu.cpu_identity()
    assert (ident['cpu_microarchitecture'], ident['hypervisor']) == (
        'Zen 3', False)
    monkeypatch.setattr(cpu, '_cpuinfo_fields', lambda: dict(
        zen1, model='250'))
    assert cpu.cpu_identity()['cpu_microarchitecture'] == 'unknown'


def test_records_carry_the_cpu_identity_and_tables_label_by_it():
    import doc_tables  # .dev_scripts/ (tests/conftest.py)
    from swiftformer_mm.analysis import records
    cond = records.conditions(command='x')
    for key in ('cpu_vendor', 'cpu_family', 'cpu_model_number',
                'cpu_stepping', 'cpu_microarchitecture', 'cpu_caches',
                'hypervisor'):
        assert key in cond
    record = dict(conditions=dict(cond, cpu='AMD EPYC', int8='AVX2 only',
                                  cpu_family=23, cpu_model_number=1,
                                  cpu_microarchitecture='Zen'))
    assert doc_tables.cpu_label(record) == \
        'AMD EPYC, family 23 model 1, Zen (AVX2 only)'


def test_advice_measured_on_this_machine_comes_first():
    """Where the INT8 and fp32 models were timed here, that decides: INT8
    not faster is said plainly with the faster choice; the records' note
    on the CPU's class follows."""
    slower = dict(fp32_ms=100., int8_ms=123., ratio=1.23)
    advice = int8_advice({'avx2'}, runtime='onnxruntime', measured=slower,
                         fp32_config='configs/deploy/x_onnxruntime_dynamic.py')
    first, second = advice.split('\n')
    assert first == (
        'INT8 is NOT faster than fp32 on this CPU: INT8 123 ms against fp32 '
        '100 ms per image (1.23x). Use the fp32 model (configs/deploy/'
        "x_onnxruntime_dynamic.py) here, or measure the other runtime's "
        'INT8 (*_openvino-int8_* deploy configs).')
    assert second.startswith('this CPU has no VNNI')
    faster = dict(fp32_ms=100., int8_ms=60., ratio=0.6)
    assert int8_advice({'avx2', 'avx512_vnni'}, runtime='openvino',
                       measured=faster) == (
        'INT8 pays on this CPU: INT8 60 ms against fp32 100 ms per image '
        '(0.60x).')
    # a VNNI CPU where INT8 still loses: the measurement says so
    assert int8_advice({'avx2', 'avx512_vnni'}, runtime='openvino',
                       measured=slower).startswith('INT8 is NOT faster')


def test_advice_names_what_the_records_measured_on_this_microarchitecture(
        tmp_path):
    """Second to this machine's own measurement: the records of CPUs of the
    same microarchitecture (not merely the same ISA class: two AMD EPYCs
    without VNNI gained differently)."""
    import json

    from swiftformer_mm.analysis import records

    def record(arch, fp32, int8, runtime='onnxruntime'):
        return dict(key=dict(mode='quantized-backbone'), conditions=dict(
            date='2026-12-07', cpu_microarchitecture=arch), figures=dict(
                per_image_ms={runtime: fp32, f'{runtime}-int8': int8}))
    lines = [record('Zen 2', 150., 197.), record('Zen 2', 140., 170.),
             record('Emerald Rapids', 100., 80.),
             record('Zen 2', 140., 120., runtime='openvino')]
    (tmp_path / 'benchmark.jsonl').write_text(
        ''.join(json.dumps(r) + '\n' for r in lines))
    ratios = records.recorded_int8_ratios('onnxruntime', 'Zen 2',
                                          str(tmp_path))
    assert ratios == [1.31, 1.21]
    assert records.recorded_int8_ratios('onnxruntime', 'Zen 3',
                                        str(tmp_path)) == []
    assert records.recorded_int8_ratios('onnxruntime', 'unknown',
                                        str(tmp_path)) == []
    slower = dict(fp32_ms=100., int8_ms=130., ratio=1.3)
    advice = int8_advice({'avx2'}, runtime='onnxruntime', measured=slower,
                         recorded=dict(microarchitecture='Zen 2',
                                       ratios=ratios)).split('\n')
    assert advice[0].startswith('INT8 is NOT faster than fp32 on this CPU')
    assert advice[1] == (
        "the records' onnxruntime INT8 on this microarchitecture (Zen 2, the "
        "L1 backbone, benchmark.py quantized-backbone): 1.31x / 1.21x of "
        "fp32's time; INT8 was not faster than fp32 there")
    assert advice[2].startswith('this CPU has no VNNI')
    faster = records.recorded_int8_ratios('onnxruntime', 'Emerald Rapids',
                                          str(tmp_path))
    assert int8_advice({'avx2', 'avx512_vnni'}, runtime='onnxruntime',
                       recorded=dict(microarchitecture='Emerald Rapids',
                                     ratios=faster)).endswith(
        'INT8 was faster there')
