"""swiftformer_mm.analysis.flops (tools/analysis_tools/get_flops.py): parameters and GMACs of every arch at 224x224 against
the paper (GMACs within 3%) and the authors' parameter counts (exact)."""
import pytest

from swiftformer_mm.analysis import flops as get_flops

# Paper Table 1 GMACs, and the authors' code's parameter counts (stated
# here, independently of the tool's own table).
PAPER_GMACS = {'xs': 0.6, 's': 1.0, 'l1': 1.6, 'l3': 4.0}
AUTHORS_BACKBONE_PARAMS = {'xs': 3_032_920, 's': 5_641_680,
                           'l1': 11_287_152, 'l3': 27_467_712}
AUTHORS_CLS_PARAMS = {'xs': 3_475_360, 's': 6_092_128, 'l1': 12_057_920,
                      'l3': 28_494_736}


@pytest.mark.parametrize('arch', ['xs', 's', 'l1', 'l3'])
def test_figures_match_paper(arch):
    f = get_flops.backbone_figures(arch, (224, 224))
    assert f['params'] == AUTHORS_BACKBONE_PARAMS[arch]
    assert get_flops.classification_params(arch) == AUTHORS_CLS_PARAMS[arch]
    assert abs(f['gmacs'] / PAPER_GMACS[arch] - 1) < 0.03, f['gmacs']


def test_deploy_form_costs_no_more():
    train = get_flops.backbone_figures('xs', (224, 224))
    deploy = get_flops.backbone_figures('xs', (224, 224), deploy=True)
    assert deploy['params'] < train['params']
    # Folding removes BN/layer-scale work only; the MACs of convs and
    # matmuls are those of the training form (the folded scale of w_g
    # saves a multiply, not a MAC).
    assert abs(deploy['gmacs'] / train['gmacs'] - 1) < 0.01


def test_linear_in_pixels():
    small = get_flops.backbone_figures('xs', (224, 224))['gmacs']
    large = get_flops.backbone_figures('xs', (448, 448))['gmacs']
    assert 3.9 < large / small <= 4.0
