"""Folding (swiftformer_mm.models.fusion): the fused (deploy-form) model
computes what the training form computes (eval mode, same weights), for every
arch, both attention formulas, inside a detector and a segmentor, and through
checkpoints; and every form of the attention computes the reference
:func:`~swiftformer_mm.models.blocks.efficient_additive_attention`."""
import copy
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from conftest import randomize_, relative_error, run
from swiftformer_mm.models import (DeployAttention, DeployConvEncoder,
                                   DeployDownsample, DeploySwiftFormerEncoder,
                                   SwiftFormer, switch_to_deploy)

TOLERANCE = 1e-4
ARCHS = ['xs', 's', 'l1', 'l3']


def assert_close(got, expected, tol=TOLERANCE):
    assert len(got) == len(expected)
    for stage, (a, b) in enumerate(zip(got, expected)):
        assert a.shape == b.shape
        err = relative_error(a, b)
        assert err < tol, (stage, err)


def _outputs(model, x, grad=False):
    with torch.set_grad_enabled(grad):
        return [o.detach() for o in model(x)]


@pytest.mark.parametrize('arch', ARCHS)
def test_deploy_matches_training_form(arch):
    model = randomize_(SwiftFormer(arch), seed=1).eval()
    x = torch.randn(2, 3, 160, 224, generator=torch.Generator().manual_seed(0))
    expected = _outputs(model, x)
    fused = switch_to_deploy(copy.deepcopy(model))
    assert fused.deploy
    # Nothing left to fold: no BN in the trunk, no layer scale anywhere.
    names = [n for n, _ in fused.named_parameters()]
    assert not any('layer_scale' in n for n in names)
    trunk_bns = [n for n, m in fused.named_modules()
                 if isinstance(m, nn.BatchNorm2d) and not n.startswith('norm')]
    assert trunk_bns == []
    assert isinstance(fused.network[1], DeployDownsample)
    assert isinstance(fused.network[0][0], DeployConvEncoder)
    assert isinstance(fused.network[0][-1], DeploySwiftFormerEncoder)
    # The CPU inference path (tiled matmuls) and the plain module path
    # (autograd on: what training, CUDA, tracing take) both match.
    assert_close(_outputs(fused, x), expected)
    assert_close(_outputs(fused, x, grad=True), expected)


def test_training_form_fast_path_matches_module_path():
    """The training form's no-grad CPU path (tiled matmuls, with tiles: more
    than 8192 tokens at stride 4) equals its module path."""
    model = randomize_(SwiftFormer('xs'), seed=2).eval()
    x = torch.randn(1, 3, 400, 384, generator=torch.Generator().manual_seed(1))
    assert_close(_outputs(model, x), _outputs(model, x, grad=True))
    fused = switch_to_deploy(copy.deepcopy(model))
    assert_close(_outputs(fused, x), _outputs(model, x, grad=True))


def test_legacy_formula_and_custom_norms():
    model = randomize_(
        SwiftFormer('xs', attn_formula='legacy', out_indices=(1, 3),
                    out_norm_cfg=dict(type='GN', num_groups=1)),
        seed=3).eval()
    x = torch.randn(1, 3, 96, 128, generator=torch.Generator().manual_seed(2))
    expected = _outputs(model, x)
    fused = switch_to_deploy(model)
    attn = fused.network[6][-1].attn
    assert isinstance(attn, DeployAttention)
    assert attn.attn_formula == 'legacy'
    assert_close(_outputs(fused, x), expected)


def _random_attention(dim, formula, seed):
    from swiftformer_mm.models.blocks import EfficientAdditiveAttention
    gen = torch.Generator().manual_seed(seed)
    attn = EfficientAdditiveAttention(dim, formula).eval()
    with torch.no_grad():
        for p in attn.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
        attn.w_g.mul_(10.)  # attention weights far from uniform
    layer_scale = torch.rand(dim, 1, 1, generator=gen) + 0.5
    return attn, layer_scale


@pytest.mark.parametrize('formula', ['current', 'legacy'])
@pytest.mark.parametrize('size', [(5, 7), (24, 20)])
def test_every_attention_form_computes_the_reference(formula, size):
    """The attention is written once, in efficient_additive_attention; each
    form kept apart from it (the fused one in both layouts, the XNNPACK one
    of the ExecuTorch export) computes it, on random weights and inputs."""
    from swiftformer_mm.export.backends.executorch import XnnpackAttention
    from swiftformer_mm.models.blocks import efficient_additive_attention
    dim = 16
    attn, layer_scale = _random_attention(dim, formula, seed=9)
    x = torch.randn(2, dim, *size, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        tokens = x.flatten(2).transpose(1, 2)
        ref = efficient_additive_attention(
            attn.to_query(tokens), attn.to_key(tokens), attn.w_g, attn.proj,
            attn.final, formula, dim**-0.5).transpose(1, 2).reshape(x.shape)
        fused = copy.deepcopy(attn).switch_to_deploy(layer_scale)
        x_cl = x.contiguous(memory_format=torch.channels_last)
        forms = {
            'training form': (attn(x), ref),
            'fused, channels-first': (fused(x), layer_scale * ref),
            'fused, channels_last rows': (fused._forward_tokens_last(x_cl),
                                          layer_scale * ref),
            'XNNPACK': (XnnpackAttention(fused)(x), layer_scale * ref),
        }
        # eager CPU inference on a channels_last map takes the rows path
        assert torch.equal(fused(x_cl), forms['fused, channels_last rows'][0])
    with torch.enable_grad():  # autograd takes the channels-first path
        forms['fused, autograd'] = (fused(x).detach(), layer_scale * ref)
    for name, (got, expected) in forms.items():
        assert got.shape == x.shape, name
        err = relative_error(got, expected)
        assert err < 1e-5, (name, err)
    if formula == 'current':  # the weights matter: not the legacy result
        legacy = copy.deepcopy(attn)
        legacy.attn_formula = 'legacy'
        with torch.no_grad():
            assert relative_error(legacy(x), ref) > 1e-3


def test_deploy_argument_loads_training_and_deploy_weights(tmp_path):
    trained = randomize_(SwiftFormer('xs'), seed=4).eval()
    x = torch.randn(1, 3, 128, 128, generator=torch.Generator().manual_seed(3))
    expected = _outputs(trained, x)

    # A training-form state dict is fused while loading.
    built = SwiftFormer('xs', deploy=True).eval()
    built.load_state_dict(trained.state_dict())
    assert_close(_outputs(built, x), expected)

    # A deploy-form state dict loads as it is.
    again = SwiftFormer('xs', deploy=True).eval()
    again.load_state_dict(built.state_dict())
    assert_close(_outputs(again, x), expected)

    # Pretrained init_cfg with a training-form file.
    path = tmp_path / 'xs.pth'
    torch.save(trained.state_dict(), path)
    from_file = SwiftFormer('xs', deploy=True, init_cfg=dict(
        type='Pretrained', checkpoint=str(path)))
    from_file.init_weights()
    assert_close(_outputs(from_file.eval(), x)[:3], expected[:3])


def test_incomplete_training_weights_are_reported():
    trained = SwiftFormer('xs').state_dict()
    del trained['network.2.0.pwconv1.weight']
    model = SwiftFormer('xs', deploy=True)
    with pytest.raises(RuntimeError, match='network.2.0'):
        model.load_state_dict(trained)


def test_switch_to_deploy_needs_a_swiftformer():
    with pytest.raises(ValueError, match='no SwiftFormer'):
        switch_to_deploy(nn.Conv2d(3, 3, 1))


def _base_config(path):
    """A config shipped inside mmdet/mmseg ('mmdet::a/b.py')."""
    import importlib
    from mmengine.config import Config
    package, rel = path.split('::', 1)
    root = Path(importlib.import_module(package).__file__).parent
    return Config.fromfile(str(root / '.mim' / 'configs' / rel))


def _build(cfg_dict, scope):
    from mmengine.registry import init_default_scope
    init_default_scope(scope)
    if scope == 'mmdet':
        from mmdet.registry import MODELS
    else:
        from mmseg.registry import MODELS
    return MODELS.build(cfg_dict)


def test_detector_deploy_matches(tmp_path):
    pytest.importorskip('mmdet')
    import swiftformer_mm  # noqa: F401
    cfg = _base_config('mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py')
    cfg.model.backbone = dict(type='SwiftFormer', arch='xs')
    cfg.model.neck.in_channels = [48, 56, 112, 220]
    model = randomize_(_build(cfg.model, 'mmdet'), seed=5).eval()
    x = torch.randn(1, 3, 192, 256, generator=torch.Generator().manual_seed(4))
    # Features and RPN maps: everything upstream of the proposals' NMS,
    # whose ranking of near-ties would make a comparison flaky.
    def run(m):
        feats = m.extract_feat(x)
        return list(feats) + flat(m.rpn_head(feats))
    flat = lambda t: [v for o in t for v in (o if isinstance(o, (list, tuple)) else [o])]  # noqa: E731
    with torch.no_grad():
        expected = run(model)
        fused = switch_to_deploy(copy.deepcopy(model))
        got = run(fused)
    assert isinstance(fused.backbone.network[0][0], DeployConvEncoder)
    assert_close(got, expected)
    # RoI features (mmcv's RoIAlign reads raw NCHW memory) from fixed boxes.
    rois = torch.tensor([[0, 10., 20., 120., 90.], [0, 64., 8., 250., 180.],
                         [0, 0., 0., 40., 40.]])
    with torch.no_grad():
        roi_feats = [m.roi_head.bbox_roi_extractor(
            m.extract_feat(x)[:4], rois) for m in (model, fused)]
    assert all(f.is_contiguous() for f in fused.backbone(x))
    assert_close(roi_feats[1], roi_feats[0])


def test_segmentor_deploy_matches_with_head_fusion():
    pytest.importorskip('mmseg')
    import swiftformer_mm  # noqa: F401
    cfg = _base_config('mmseg::sem_fpn/fpn_r50_4xb4-160k_ade20k-512x512.py')
    cfg.model.pretrained = None
    cfg.model.data_preprocessor = None
    cfg.model.backbone = dict(type='SwiftFormer', arch='xs')
    cfg.model.neck.in_channels = [48, 56, 112, 220]
    cfg.model.decode_head.norm_cfg = dict(type='BN', requires_grad=True)
    model = randomize_(_build(cfg.model, 'mmseg'), seed=6).eval()
    x = torch.randn(1, 3, 128, 128, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        expected = model(x, mode='tensor')
        fused = switch_to_deploy(copy.deepcopy(model), fuse_other_conv_bn=True)
        got = fused(x, mode='tensor')
    assert not any(isinstance(m, nn.BatchNorm2d)
                   for m in fused.decode_head.modules())
    assert_close([got], [expected])


@pytest.mark.slow
def test_deploy_checkpoint_tool(tmp_path):
    """tools/model_converters/deploy_checkpoint.py on an OpenMMLab-style checkpoint: the
    written file loads into deploy=True and computes the training form."""
    trained = randomize_(SwiftFormer('xs'), seed=7).eval()
    src = tmp_path / 'det.pth'
    state = {f'backbone.{k}': v for k, v in trained.state_dict().items()}
    state['neck.lateral.weight'] = torch.ones(2)
    torch.save(dict(meta=dict(epoch=12), state_dict=state), src)
    dst = tmp_path / 'det_deploy.pth'
    run('tools/model_converters/deploy_checkpoint.py', src, dst)
    out = torch.load(dst, map_location='cpu')
    assert torch.equal(out['state_dict']['neck.lateral.weight'], torch.ones(2))
    assert out['meta']['epoch'] == 12 and out['meta']['swiftformer_deploy']
    model = SwiftFormer('xs', deploy=True).eval()
    sub = {k[len('backbone.'):]: v for k, v in out['state_dict'].items()
           if k.startswith('backbone.')}
    assert not any('layer_scale' in k for k in sub)
    model.load_state_dict(sub)
    x = torch.randn(1, 3, 96, 96, generator=torch.Generator().manual_seed(6))
    assert_close(_outputs(model, x), _outputs(trained, x))


@pytest.mark.parametrize('deploy', [False, True])
def test_torch_compile_without_graph_breaks(deploy):
    import torch._dynamo as dynamo
    model = SwiftFormer('xs', deploy=deploy).eval()
    dynamo.reset()
    with torch.no_grad():
        explanation = dynamo.explain(model)(torch.randn(1, 3, 96, 128))
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1


@pytest.mark.slow
def test_deploy_checkpoint_tool_reads_safetensors(tmp_path):
    """The tool reads what the backbone reads, Hugging Face's safetensors
    container too (here with the authors' keys)."""
    from safetensors.torch import save_file

    from conftest import authors_state_dict
    trained = randomize_(SwiftFormer('xs', out_indices=(3, )), seed=8).eval()
    src = tmp_path / 'model.safetensors'
    save_file({k: v.contiguous() for k, v in
               authors_state_dict(trained).items()}, str(src))
    dst = tmp_path / 'deploy.pth'
    run('tools/model_converters/deploy_checkpoint.py', src, dst)
    out = torch.load(dst, map_location='cpu', weights_only=True)
    model = SwiftFormer('xs', out_indices=(3, ), deploy=True).eval()
    missing, _ = model.load_state_dict(out['state_dict'], strict=False)
    assert missing == [f'norm6.{k}' for k in ('weight', 'bias',
                                               'running_mean', 'running_var')]
    model.norm6.load_state_dict(trained.norm6.state_dict())
    x = torch.randn(1, 3, 96, 96, generator=torch.Generator().manual_seed(6))
    assert_close(_outputs(model, x), _outputs(trained, x))
