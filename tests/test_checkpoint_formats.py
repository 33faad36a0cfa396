"""Every checkpoint format a user may hold loads to the same network; every
bad checkpoint stops with an error that says what is wrong."""
import pytest
import torch

from conftest import authors_state_dict, identity_out_norms, randomize_, run
from swiftformer_mm import CheckpointError
from swiftformer_mm.models import SwiftFormer

ARCH = 'xs'


def pretrained(path, **kwargs):
    model = SwiftFormer(
        ARCH, init_cfg=dict(type='Pretrained', checkpoint=str(path)),
        **kwargs)
    model.init_weights()
    return model.eval()


@pytest.fixture(scope='module')
def reference():
    """A SwiftFormer-XS with random (non-trivial) weights."""
    return randomize_(SwiftFormer(ARCH)).eval()


def backbone_only(model):
    return {k: v for k, v in model.state_dict().items()
            if not k.startswith('norm')}


def huggingface_names(authors_sd):
    """The renaming of transformers' conversion script (not shipped in its
    wheel); the strict load into HF's model checks it is complete."""
    renamed = {}
    for key, value in authors_sd.items():
        key = key.replace('.pwconv', '.point_wise_conv')
        key = key.replace('.dwconv', '.depth_wise_conv')
        key = key.replace('.Proj.', '.proj.')
        key = key.replace('patch_embed', 'swiftformer.patch_embed.patch_embedding')
        parts = key.split('.')
        if parts[0] == 'network':
            rest = '.'.join(parts[2:])
            key = (f'swiftformer.encoder.network.{parts[1]}.blocks.{rest}'
                   if parts[2].isdigit() else
                   f'swiftformer.encoder.network.{parts[1]}.{rest}')
        renamed[key] = value
    return renamed


def assert_same_features(model, reference, *, out_norms=False, legacy=False):
    import copy
    ref = copy.deepcopy(reference)
    if legacy:
        for m in ref.modules():
            if hasattr(m, 'attn_formula'):
                m.attn_formula = 'legacy'
    if not out_norms:
        identity_out_norms(ref), identity_out_norms(model)
    x = torch.randn(2, 3, 96, 80, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        for a, b in zip(model(x), ref(x)):
            assert torch.equal(a, b)


@pytest.mark.parametrize('wrapper', [None, 'model', 'model_ema', 'state_dict'])
def test_authors_checkpoint(tmp_path, reference, wrapper):
    sd = authors_state_dict(reference)
    obj = sd if wrapper is None else {wrapper: sd, 'epoch': 299}
    if wrapper == 'model_ema':
        obj = {'model_ema': sd}
    torch.save(obj, tmp_path / 'SwiftFormer_XS.pth')
    assert_same_features(pretrained(tmp_path / 'SwiftFormer_XS.pth'), reference)


def test_timm_checkpoint(tmp_path, reference):
    timm = pytest.importorskip('timm')
    from timm.models.swiftformer import checkpoint_filter_fn
    timm_model = timm.create_model('swiftformer_xs')
    # timm's own mapping of the authors' file, loaded strictly by timm
    timm_model.load_state_dict(
        checkpoint_filter_fn(authors_state_dict(reference), timm_model))
    torch.save(timm_model.state_dict(), tmp_path / 'timm.pth')
    assert_same_features(pretrained(tmp_path / 'timm.pth'), reference)


@pytest.mark.parametrize('safe', [True, False])
def test_huggingface_checkpoint(tmp_path, reference, safe):
    transformers = pytest.importorskip('transformers')
    config = transformers.SwiftFormerConfig(
        depths=reference.depths, embed_dims=reference.widths, num_labels=1000)
    hf = transformers.SwiftFormerForImageClassification(config)
    hf.load_state_dict(huggingface_names(authors_state_dict(reference)))
    hf.save_pretrained(tmp_path / 'hf', safe_serialization=safe)
    name = 'model.safetensors' if safe else 'pytorch_model.bin'
    model = pretrained(tmp_path / 'hf' / name, attn_formula='legacy')
    assert_same_features(model, reference, legacy=True)


def test_openmmlab_checkpoint_with_backbone_prefix(tmp_path, reference):
    sd = {f'backbone.{k}': v for k, v in reference.state_dict().items()}
    sd['neck.lateral_convs.0.conv.weight'] = torch.zeros(256, 48, 1, 1)
    torch.save({'state_dict': sd, 'meta': {'epoch': 12}}, tmp_path / 'det.pth')
    model = pretrained(tmp_path / 'det.pth')
    assert_same_features(model, reference, out_norms=True)


def test_custom_prefix(tmp_path, reference):
    sd = {f'encoder.trunk.{k}': v for k, v in reference.state_dict().items()}
    torch.save(sd, tmp_path / 'custom.pth')
    model = SwiftFormer(ARCH, init_cfg=dict(
        type='Pretrained', checkpoint=str(tmp_path / 'custom.pth'),
        prefix='encoder.trunk'))
    model.init_weights()
    assert_same_features(model.eval(), reference, out_norms=True)


def test_log_names_format_and_count(tmp_path, reference):
    from mmengine.logging import MMLogger
    torch.save(authors_state_dict(reference), tmp_path / 'a.pth')
    logger = MMLogger.get_instance('swiftformer_test_log', log_level='INFO')
    messages = []
    handler = type('H', (__import__('logging').Handler, ), {
        'emit': lambda self, record: messages.append(record.getMessage())})()
    logger.addHandler(handler)
    try:
        pretrained(tmp_path / 'a.pth')
    finally:
        logger.removeHandler(handler)
    n_backbone = len(backbone_only(reference))
    n_total = len(reference.state_dict())
    assert any(f'loaded {n_backbone}/{n_total} tensors from authors '
               'checkpoint' in m for m in messages), messages


# ----------------------------------------------------------- bad checkpoints
def test_missing_file_builds_and_fails_at_init_weights(tmp_path):
    """Building never reads the file (inference from a trained checkpoint
    needs no ImageNet file); initialising the weights, which every training
    run does before its first batch, stops with the fix."""
    model = SwiftFormer(ARCH, init_cfg=dict(
        type='Pretrained', checkpoint=str(tmp_path / 'SwiftFormer_XS.pth')))
    with pytest.raises(FileNotFoundError, match='Pretrained weights'):
        model.init_weights()


def test_truncated_file(tmp_path, reference):
    torch.save(authors_state_dict(reference), tmp_path / 'full.pth')
    data = (tmp_path / 'full.pth').read_bytes()
    (tmp_path / 'cut.pth').write_bytes(data[:len(data) // 2])
    with pytest.raises(CheckpointError, match='truncated'):
        pretrained(tmp_path / 'cut.pth')


def test_not_a_checkpoint(tmp_path):
    (tmp_path / 'notes.pth').write_text('<html>Google Drive quota exceeded')
    with pytest.raises(CheckpointError, match='not a checkpoint'):
        pretrained(tmp_path / 'notes.pth')


def test_other_arch(tmp_path):
    torch.save(SwiftFormer('l1').state_dict(), tmp_path / 'l1.pth')
    with pytest.raises(CheckpointError,
                       match=r"holds a SwiftFormer 'l1'.*built as 'xs'"):
        pretrained(tmp_path / 'l1.pth')


def test_shape_mismatch(tmp_path, reference):
    sd = authors_state_dict(reference)
    sd['network.0.0.pwconv1.weight'] = torch.zeros(10, 48, 1, 1)
    torch.save(sd, tmp_path / 'bad.pth')
    with pytest.raises(CheckpointError, match='do not fit'):
        pretrained(tmp_path / 'bad.pth')


def test_incomplete_checkpoint(tmp_path, reference):
    sd = authors_state_dict(reference)
    del sd['network.4.2.pwconv2.bias']
    torch.save(sd, tmp_path / 'partial.pth')
    with pytest.raises(CheckpointError, match='lacks 1 of'):
        pretrained(tmp_path / 'partial.pth')


def test_nothing_matched(tmp_path):
    torch.save({'state_dict': {'conv1.weight': torch.zeros(64, 3, 7, 7)}},
               tmp_path / 'resnet.pth')
    with pytest.raises(CheckpointError, match='no SwiftFormer weights'):
        pretrained(tmp_path / 'resnet.pth')


def test_no_tensors(tmp_path):
    torch.save({'epoch': 3, 'args': 'x'}, tmp_path / 'meta_only.pth')
    with pytest.raises(CheckpointError, match='holds no tensors'):
        pretrained(tmp_path / 'meta_only.pth')


def test_huggingface_directory(tmp_path):
    (tmp_path / 'swiftformer-xs').mkdir()
    (tmp_path / 'swiftformer-xs' / 'model.safetensors').write_bytes(b'')
    with pytest.raises(CheckpointError,
                       match=r'is a directory.*model\.safetensors'):
        pretrained(tmp_path / 'swiftformer-xs')


def test_legacy_weights_refused_in_current_mode(tmp_path, reference):
    transformers = pytest.importorskip('transformers')
    config = transformers.SwiftFormerConfig(
        depths=reference.depths, embed_dims=reference.widths)
    transformers.SwiftFormerModel(config).save_pretrained(tmp_path / 'hf')
    with pytest.raises(CheckpointError, match="attn_formula='legacy'"):
        pretrained(tmp_path / 'hf' / 'model.safetensors')


def test_timm_weights_refused_in_legacy_mode(tmp_path):
    timm = pytest.importorskip('timm')
    torch.save(timm.create_model('swiftformer_xs').state_dict(),
               tmp_path / 'timm.pth')
    with pytest.raises(CheckpointError, match="attn_formula='current'"):
        pretrained(tmp_path / 'timm.pth', attn_formula='legacy')


class _RunsCode:
    def __reduce__(self):
        import os
        return (os.system, ('echo pwned > /dev/null', ))


def test_pickle_that_runs_code_is_refused(tmp_path):
    torch.save({'state_dict': _RunsCode()}, tmp_path / 'evil.pth')
    with pytest.raises(CheckpointError, match='could run arbitrary code'):
        pretrained(tmp_path / 'evil.pth')


@pytest.mark.slow
def test_convert_tool_roundtrip_records_formula(tmp_path, reference):
    torch.save({'model': authors_state_dict(reference)}, tmp_path / 'a.pth')
    out = tmp_path / 'out' / 'swiftformer_xs_mm.pth'
    run('tools/model_converters/convert_checkpoint.py',
        str(tmp_path / 'a.pth'), str(out), '--attn-formula', 'legacy')
    saved = torch.load(out, weights_only=True)
    assert saved['meta']['attn_formula'] == 'legacy'
    assert all(k.startswith('backbone.') for k in saved['state_dict'])
    assert_same_features(pretrained(out, attn_formula='legacy'), reference,
                         legacy=True)
    # the recorded formula is enforced on later loads
    with pytest.raises(CheckpointError, match="attn_formula='legacy'"):
        pretrained(out)
