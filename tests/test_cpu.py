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
