"""Importing swiftformer_mm registers its modules and changes nothing else in
the user's process: no attribute of torch, mmengine, mmcv, mmdet, mmseg or
mmpretrain is replaced, no registry entry of theirs is replaced or removed,
and mmengine's default file backend stays mmengine's. The same holds for
``swiftformer_mm.engine``, which the training configs import too, and for
building a ``CPUAmpOptimWrapper`` and running a forward under it: mmcv's
ops get fp32 inputs inside its ``optim_context`` only.

What it does on purpose beyond registering is named in docs/development.md and
allowed below: the Runner-checkpoint allow-list of torch's safe loading
(a set that grows; nothing is replaced) and, where the installed
transformers broke mmpretrain's multimodal models, mmpretrain's
``WITH_MULTIMODAL`` switch.
"""
import json
import sys

from conftest import run

_PROBE = r'''
import json, sys, types
# What a user's process has imported before it reads a config with
# custom_imports=['swiftformer_mm']. (mmdet.models and mmseg.models import
# mmpretrain.models, which fails with this transformers until the mend.)
import torch, torch.nn.functional, torch.onnx, torch.serialization
import mmengine.fileio, mmengine.runner, mmengine.registry, mmengine.hooks
import mmcv.cnn, mmcv.ops
import mmdet.apis, mmdet.registry, mmseg.registry, mmpretrain.registry
from mmengine.registry import Registry

PACKAGES = ('torch', 'mmengine', 'mmcv', 'mmdet', 'mmseg', 'mmpretrain')


def snapshot():
    attrs, registries = {}, {}
    for name, module in list(sys.modules.items()):
        if not isinstance(module, types.ModuleType) or \
                name.split('.')[0] not in PACKAGES:
            continue
        try:
            items = list(vars(module).items())
        except TypeError:
            continue
        for attr, value in items:
            attrs[(name, attr)] = value
            if isinstance(value, type) and value.__module__ == name:
                for key, member in list(vars(value).items()):
                    attrs[(name, attr, key)] = member
            if isinstance(value, Registry):
                registries[id(value)] = (f'{name}.{attr}', value,
                                         dict(value.module_dict))
    from mmengine.fileio.backends import registry_utils
    files = (dict(registry_utils.backends),
             dict(registry_utils.prefix_to_backends))
    return attrs, registries, files


exec(sys.argv[2])  # what the user's process has done before, if anything
before_attrs, before_registries, before_files = snapshot()
exec(sys.argv[1])  # the import (and what follows it) under test
after_attrs, _, after_files = snapshot()

changed = sorted(' '.join(key) for key, value in before_attrs.items()
                 if key in after_attrs and after_attrs[key] is not value)
removed = sorted(' '.join(key) for key in before_attrs
                 if key not in after_attrs)
registry_changes, registry_additions = [], []
for name, registry, entries in before_registries.values():
    now = registry.module_dict
    for key, obj in entries.items():
        if now.get(key) is not obj:
            registry_changes.append(f'{name}[{key}]')
    for key in set(now) - set(entries):
        registry_additions.append(
            [name, key, getattr(now[key], '__module__', '')])
backends, prefixes = after_files
from mmengine.fileio import LocalBackend, get_file_backend
print(json.dumps(dict(
    changed=changed, removed=removed, registry_changes=registry_changes,
    registry_additions=registry_additions,
    backends_changed=[k for k, v in before_files[0].items()
                      if backends.get(k) is not v],
    backends_added=sorted(set(backends) - set(before_files[0])),
    prefixes_changed=[k for k, v in before_files[1].items()
                      if prefixes.get(k) is not v],
    default_backend=type(get_file_backend('x/epoch_1.pth')).__name__,
    checks=globals().get('checks', {}))))
'''

# Build the CPU mixed-precision wrapper and run a forward inside its context,
# nested too; record which mmcv functions are in place. The model and the
# optimizer are the user's, made before (torch patches Optimizer.step on the
# first optimizer built, and its profiler on the first step, whoever does).
_USER_MODEL = '''
model = torch.nn.Linear(2, 2)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
'''
_AMP_STEPS = '''
import swiftformer_mm.engine
from swiftformer_mm.engine import CPUAmpOptimWrapper
OPS = [(sys.modules['mmcv.ops.nms'], 'nms'),
       (sys.modules['mmcv.ops.roi_align'], 'roi_align')]
originals = [getattr(module, name) for module, name in OPS]
def current():
    return [getattr(module, name) for module, name in OPS]
wrapper = CPUAmpOptimWrapper(optimizer=optimizer)
checks = dict(constructed_unchanged=current() == originals)
with wrapper.optim_context(model):
    inside = current()
    with wrapper.optim_context(model):
        checks['nested_same'] = current() == inside
    checks['outer_kept_after_nested'] = current() == inside
    model(torch.randn(2, 2))
checks['replaced_inside'] = all(
    now is not before for now, before in zip(inside, originals))
checks['restored'] = current() == originals
'''

# Deliberate, named in docs/development.md (see the module docstring).
ALLOWED_CHANGES = {
    # torch.serialization.add_safe_globals extends the allow-list
    'torch._weights_only_unpickler _marked_safe_globals_set',
    'mmpretrain.utils.dependency WITH_MULTIMODAL',
}


def _probe(steps: str, setup: str = '') -> dict:
    proc = run((sys.executable, '-c', _PROBE, steps, setup), timeout=300)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _assert_only_registrations(found: dict, registered: set) -> None:
    assert set(found['changed']) <= ALLOWED_CHANGES, found['changed']
    assert found['removed'] == []
    assert found['registry_changes'] == []
    # What we add. (Other new entries are the libraries' own, registered
    # when their modules are first imported.)
    ours = {(registry.split('.')[0], key)
            for registry, key, module in found['registry_additions']
            if module.startswith('swiftformer_mm')}
    assert {key for _, key in ours} == registered
    assert found['backends_changed'] == [] and found['prefixes_changed'] == []
    assert found['backends_added'] == ['atomic_local']
    assert found['default_backend'] == 'LocalBackend'


def test_import_changes_nothing_but_registrations():
    found = _probe('import swiftformer_mm')
    # the backbone and the classifier
    _assert_only_registrations(found, {'SwiftFormer', 'SwiftFormerClassifier'})


def test_engine_import_and_cpu_amp_change_nothing_but_registrations():
    found = _probe(_AMP_STEPS, setup=_USER_MODEL)
    _assert_only_registrations(found, {
        'SwiftFormer', 'SwiftFormerClassifier', 'CPUAmpOptimWrapper',
        'ExactResumeHook', 'CPUDistributedDataParallel'})
    # mmcv's nms and roi_align: untouched by building the wrapper, replaced
    # for the forward (in the nested context too), back on leaving it
    assert found['checks'] == dict(
        constructed_unchanged=True, nested_same=True,
        outer_kept_after_nested=True, replaced_inside=True, restored=True)


#: What only deployment needs: loaded by the functions that deploy, never by
#: ``import swiftformer_mm`` (seconds of import, and torchao's warnings).
DEPLOYMENT_MODULES = ('torchao', 'executorch', 'onnx', 'onnxruntime',
                      'openvino', 'nncf', 'mmdeploy')
_LOADED = ('sorted(m for m in {modules!r} if m in sys.modules)'
           .format(modules=DEPLOYMENT_MODULES))
#: What the package builds on imports anyway (torch 2.1's torch._dynamo, for
#: one, imports onnxruntime where it is installed).
_BASE = ('import torch, mmcv.cnn, mmengine.model, mmengine.runner, '
         'mmdet.registry, mmseg.registry, mmpretrain.registry')


def test_import_is_quiet_and_loads_no_deployment_runtime(tmp_path):
    code = (f'import sys; {_BASE}; before = {_LOADED}; '
            f'import swiftformer_mm; print(before, {_LOADED})')
    proc = run((sys.executable, '-c', code), cwd=tmp_path)
    assert proc.stderr == ''
    before, after = proc.stdout.strip().split('] [')
    assert before + ']' == '[' + after, 'import swiftformer_mm loaded more'
    # on its own too: nothing printed
    alone = run((sys.executable, '-c', 'import swiftformer_mm'), cwd=tmp_path)
    assert (alone.stdout, alone.stderr) == ('', '')
