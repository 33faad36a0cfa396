"""Numerical parity with independent implementations on the same weights.

* current formula: timm's ``swiftformer_*`` (the authors' code since 2023-07);
* legacy formula: Hugging Face transformers' ``SwiftFormerModel``.

Each reference model gets random, non-trivial weights (layer scales O(1), BN
statistics per channel), is saved in its own format, and is loaded here
through ``init_cfg``, as a user would. Output norms are compared as identity
(classification models have none).
"""
import pytest
import torch

from conftest import identity_out_norms, randomize_, relative_error
from swiftformer_mm.models import SwiftFormer

ARCHS = ['xs', 's', 'l1', 'l3']
SIZES = [(224, 224), (197, 311)]
TOLERANCE = 1e-4


def load(path, arch, **kwargs):
    model = SwiftFormer(arch, init_cfg=dict(type='Pretrained',
                                            checkpoint=str(path)), **kwargs)
    model.init_weights()
    return identity_out_norms(model.eval())


@pytest.mark.parametrize('arch', ARCHS)
def test_matches_timm(arch, tmp_path):
    timm = pytest.importorskip('timm')
    ref = randomize_(timm.create_model(f'swiftformer_{arch}')).eval()
    torch.save(ref.state_dict(), tmp_path / f'swiftformer_{arch}.pth')
    ours = load(tmp_path / f'swiftformer_{arch}.pth', arch)
    for h, w in SIZES:
        x = torch.randn(2, 3, h, w, generator=torch.Generator().manual_seed(h))
        with torch.no_grad():
            expected = ref.forward_intermediates(x, intermediates_only=True)
            got = ours(x)
        for stage, (a, b) in enumerate(zip(got, expected)):
            assert a.shape == b.shape
            err = relative_error(a, b)
            print(f'timm {arch} {h}x{w} stage {stage}: {err:.2e}')
            assert err < TOLERANCE, (arch, (h, w), stage, err)


@pytest.mark.parametrize('arch', ARCHS)
def test_legacy_formula_matches_huggingface(arch, tmp_path):
    transformers = pytest.importorskip('transformers')
    widths = SwiftFormer.arch_settings[arch]['widths']
    depths = SwiftFormer.arch_settings[arch]['depths']
    config = transformers.SwiftFormerConfig(depths=depths, embed_dims=widths)
    ref = randomize_(transformers.SwiftFormerModel(config)).eval()
    ref.save_pretrained(tmp_path / 'hf')
    ours = load(tmp_path / 'hf' / 'model.safetensors', arch,
                attn_formula='legacy')
    for h, w in SIZES:
        x = torch.randn(2, 3, h, w, generator=torch.Generator().manual_seed(w))
        with torch.no_grad():
            hidden = ref(x, output_hidden_states=True).hidden_states
            got = ours(x)
        # hidden_states: the stem output, then one entry per network entry;
        # stages are network entries 0, 2, 4, 6.
        expected = [hidden[1 + i] for i in (0, 2, 4, 6)]
        for stage, (a, b) in enumerate(zip(got, expected)):
            err = relative_error(a, b)
            print(f'hf {arch} {h}x{w} stage {stage}: {err:.2e}')
            assert err < TOLERANCE, (arch, (h, w), stage, err)


def test_matches_timm_on_tiled_large_maps(tmp_path):
    """Stride-4 maps of >= 8192 tokens take the tiled-matmul MLP path in CPU
    inference (4096-token tiles, here 3 with a partial last one); it must
    still match timm."""
    timm = pytest.importorskip('timm')
    from swiftformer_mm.models.cpu_kernels import MLP_TILE as _MLP_TILE
    ref = randomize_(timm.create_model('swiftformer_xs')).eval()
    torch.save(ref.state_dict(), tmp_path / 'xs.pth')
    ours = load(tmp_path / 'xs.pth', 'xs')
    x = torch.randn(1, 3, 400, 416, generator=torch.Generator().manual_seed(4))
    assert (400 // 4) * (416 // 4) >= 2 * _MLP_TILE
    with torch.no_grad():
        expected = ref.forward_intermediates(x, intermediates_only=True)
        got = ours(x)
    for stage, (a, b) in enumerate(zip(got, expected)):
        err = relative_error(a, b)
        print(f'timm xs 400x416 stage {stage}: {err:.2e}')
        assert err < TOLERANCE, (stage, err)
