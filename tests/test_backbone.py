"""The SwiftFormer backbone: shapes, arguments, counts, freezing, checkpointing."""
import copy

import pytest
import torch
import torch.nn as nn

from conftest import randomize_
from swiftformer_mm.models import SwiftFormer

WIDTHS = {'xs': [48, 56, 112, 220], 's': [48, 64, 168, 224],
          'l1': [48, 96, 192, 384], 'l3': [64, 128, 320, 512]}
# Reference counts: stem + 7 network entries, measured on the authors' code.
BACKBONE_PARAMS = {'xs': 3_032_920, 's': 5_641_680, 'l1': 11_287_152,
                   'l3': 27_467_712}


def count(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize('arch', ['xs', 's', 'l1', 'l3'])
def test_parameter_counts_match_reference(arch):
    model = SwiftFormer(arch)
    out_norms = 2 * sum(WIDTHS[arch])
    assert count(model) == BACKBONE_PARAMS[arch] + out_norms
    assert count(model.patch_embed) + count(model.network) == \
        BACKBONE_PARAMS[arch]


@pytest.mark.parametrize('size', [(224, 224), (197, 311), (33, 47)])
def test_pyramid_shapes_any_input_size(size):
    model = SwiftFormer('xs').eval()
    h, w = size
    feats = model(torch.rand(2, 3, h, w))
    assert len(feats) == 4
    for stage, f in enumerate(feats):
        stride = 4 * 2**stage
        expected = (2, WIDTHS['xs'][stage], -(-h // stride), -(-w // stride))
        assert tuple(f.shape) == expected


def test_out_indices_select_and_order_stages():
    model = SwiftFormer('xs', out_indices=(3, 1)).eval()
    feats = model(torch.rand(1, 3, 64, 64))
    assert [f.shape[1] for f in feats] == [56, 220]
    # only the returned stages get an output norm
    assert hasattr(model, 'norm2') and hasattr(model, 'norm6')
    assert not hasattr(model, 'norm0') and not hasattr(model, 'norm4')
    assert [f.shape[1] for f in SwiftFormer('xs', out_indices=-1)(
        torch.rand(1, 3, 64, 64))] == [220]


def test_arch_case_insensitive_and_custom_dict():
    assert SwiftFormer('L1').widths == WIDTHS['l1']
    model = SwiftFormer(dict(widths=[16, 24, 32, 40], depths=[1, 2, 1, 2]))
    feats = model.eval()(torch.rand(1, 3, 64, 64))
    assert [f.shape[1] for f in feats] == [16, 24, 32, 40]
    assert len(model.network[2]) == 2


@pytest.mark.parametrize('kwargs, message', [
    (dict(arch='l2'), "Unknown SwiftFormer arch 'l2'"),
    (dict(arch=dict(widths=[1, 2, 3], depths=[1, 1, 1, 1])), '4 entries'),
    (dict(arch=dict(widths=[8] * 4)), "exactly the keys 'widths' and 'depths'"),
    (dict(out_indices=(0, 4)), 'out_indices must be stage indices'),
    (dict(out_indices=()), 'out_indices must be stage indices'),
    (dict(frozen_stages=5), 'frozen_stages must be an int in [-1, 4]'),
    (dict(frozen_stages=-2), 'frozen_stages must be an int in [-1, 4]'),
    (dict(attn_formula='new'), 'attn_formula must be one of'),
])
def test_bad_arguments_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message.replace('[', r'\[').replace(
            ']', r'\]').replace('(', r'\(').replace(')', r'\)')):
        SwiftFormer(**kwargs)


def test_out_norm_cfg_group_norm_and_norm_cfg():
    model = SwiftFormer('xs', out_norm_cfg=dict(type='GN', num_groups=1))
    assert all(isinstance(getattr(model, f'norm{i}'), nn.GroupNorm)
               for i in (0, 2, 4, 6))
    assert isinstance(model.patch_embed[1], nn.BatchNorm2d)
    # norm_cfg reaches every norm of the trunk (here: a SyncBN request)
    model = SwiftFormer('xs', norm_cfg=dict(type='SyncBN'))
    assert all(isinstance(m, nn.SyncBatchNorm)
               for m in [model.patch_embed[1], model.network[1].norm,
                         model.network[6][-1].linear.norm1, model.norm6])


def _train_step(model, x):
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    loss = sum(f.pow(2).mean() for f in model(x))
    if params:  # frozen_stages=4 leaves nothing to train
        loss.backward()
        torch.optim.SGD(params, lr=0.1).step()


@pytest.mark.parametrize('frozen_stages', [0, 2, 4])
def test_frozen_stages_stay_frozen(frozen_stages):
    model = randomize_(SwiftFormer('xs', frozen_stages=frozen_stages))
    model.train()  # train() must not unfreeze them
    before = copy.deepcopy(model.state_dict())
    _train_step(model, torch.rand(2, 3, 64, 64))
    frozen = ['patch_embed.'] + [f'network.{i}.'
                                 for i in range(2 * frozen_stages - 1)]
    frozen += [f'norm{2 * s}.' for s in range(frozen_stages)]
    changed = {k for k, v in model.state_dict().items()
               if not torch.equal(v, before[k])}
    for key in before:
        if key.startswith(tuple(frozen)):
            assert key not in changed, key
    for key, p in model.named_parameters():
        assert p.requires_grad == (not key.startswith(tuple(frozen))), key
    # the first stage after the frozen ones does learn
    if frozen_stages < 4:
        assert any(k.startswith(f'network.{2 * frozen_stages}.')
                   for k in changed)


def test_norm_eval_keeps_bn_statistics():
    model = randomize_(SwiftFormer('xs', norm_eval=True))
    before = {k: v.clone() for k, v in model.state_dict().items()
              if 'running' in k}
    _train_step(model, torch.rand(2, 3, 64, 64))
    for k, v in before.items():
        assert torch.equal(model.state_dict()[k], v), k
    assert all(not m.training for m in model.modules()
               if isinstance(m, nn.BatchNorm2d))
    assert model.network[0][0].pwconv1.weight.requires_grad


def test_with_cp_same_outputs_gradients_and_bn_statistics():
    plain = randomize_(SwiftFormer('xs'))
    ckpt = copy.deepcopy(plain)
    ckpt.with_cp = True
    x = torch.rand(2, 3, 64, 96)

    def train_forward_backward(model):
        model.train()
        outs = model(x)
        sum((o * torch.linspace(0, 1, o.numel()).view_as(o)).sum()
            for o in outs).backward()
        return outs, {k: p.grad for k, p in model.named_parameters()}

    outs_plain, grads_plain = train_forward_backward(plain)
    outs_ckpt, grads_ckpt = train_forward_backward(ckpt)
    for a, b in zip(outs_plain, outs_ckpt):
        torch.testing.assert_close(a, b)
    for k in grads_plain:
        torch.testing.assert_close(grads_plain[k], grads_ckpt[k], rtol=1e-4,
                                   atol=1e-6, msg=k)
    # recomputation in backward must not update BN running stats twice
    for k, v in plain.state_dict().items():
        torch.testing.assert_close(v, ckpt.state_dict()[k], msg=k)


def test_drop_path_schedule_is_linear_over_all_blocks():
    model = SwiftFormer('xs', drop_path_rate=0.1)
    rates = []
    for idx in (0, 2, 4, 6):
        for block in model.network[idx]:
            dp = block.drop_path
            rates.append(getattr(dp, 'drop_prob', 0.0))
    expected = [0.1 * i / (sum([3, 3, 6, 4]) - 1) for i in range(16)]
    assert rates == pytest.approx(expected)


def test_default_init_is_trunc_normal_and_layer_scale():
    model = SwiftFormer('l1', layer_scale_init_value=1e-5)
    w = model.network[2][1].pwconv1.weight
    # the authors' trunc_normal(std=.02) truncates at +-2 (absolute), as timm
    assert 0.018 < w.std() < 0.022 and abs(w.mean()) < 0.002
    assert torch.all(model.network[2][1].pwconv1.bias == 0)
    block = model.network[6][-1]
    assert torch.all(block.layer_scale_1 == 1e-5)
    assert torch.all(block.local_representation.layer_scale == 1.0)


def test_legacy_formula_weights_are_all_ones():
    """The legacy formula pools q with weight 1 per token; the current one
    L2-normalises the weights over tokens. Different outputs, same params."""
    from swiftformer_mm.models.blocks import EfficientAdditiveAttention
    torch.manual_seed(0)
    cur = EfficientAdditiveAttention(8, 'current')
    leg = EfficientAdditiveAttention(8, 'legacy')
    leg.load_state_dict(cur.state_dict())
    x = torch.randn(2, 8, 5, 7)
    q = nn.functional.normalize(
        torch.einsum('oc,bcn->bon', cur.to_query.weight, x.flatten(2)) +
        cur.to_query.bias[:, None], dim=1)
    k = nn.functional.normalize(
        torch.einsum('oc,bcn->bon', cur.to_key.weight, x.flatten(2)) +
        cur.to_key.bias[:, None], dim=1)
    g = q.sum(dim=2, keepdim=True)
    expected = torch.einsum('oc,bcn->bon', cur.final.weight, torch.einsum(
        'oc,bcn->bon', cur.proj.weight, g * k) + cur.proj.bias[:, None] + q)
    expected = expected + cur.final.bias[:, None]
    torch.testing.assert_close(leg(x).flatten(2), expected, rtol=1e-5,
                               atol=1e-5)
    assert not torch.allclose(cur(x), leg(x))
