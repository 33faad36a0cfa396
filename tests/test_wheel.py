"""The package as users install it: a wheel (``pip install .``, not
editable), used from outside the repository.

The wheel carries the configs and the user tools under
``swiftformer_mm/.mim/``, as mmdet's and mmseg's wheels carry theirs. Where
the package is installed from a wheel (``bash tools/run_tests.sh --oldest``)
the tests below also use it from another directory, as a user's process
does, and check that installing it changed neither torch nor mmcv.
"""
import glob
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import zipfile

import pytest

from conftest import INSTALLED, PYTHON, ROOT, run

#: What a clone has that the wheel must not carry, and must not need.
NOT_SHIPPED = ('tests/', '.dev_scripts/', 'docs/', 'tools/setup_env.sh',
               'tools/run_tests.sh')
#: The tools a user runs, shipped as mmdet ships its own.
SHIPPED_TOOLS = ('train.py', 'test.py', 'dist_train.sh', 'dist_test.sh',
                 'slurm_train.sh', 'slurm_test.sh', 'deployment/deploy.py',
                 'deployment/deploy_test.py',
                 'model_converters/convert_checkpoint.py')

needs_wheel = pytest.mark.skipif(
    not INSTALLED, reason='needs swiftformer_mm installed from a wheel: '
    'bash tools/run_tests.sh --oldest')


def _installed_wheel():
    """The wheel the set-up of this environment built and installed."""
    found = glob.glob(osp.join(sys.prefix, 'dist', 'swiftformer_mm-*.whl'))
    return found[0] if found else None


@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    """This tree's wheel: the installed one, else built here from a copy of
    the tree (a build in place would leave build/ in the repository)."""
    if INSTALLED and _installed_wheel():
        return _installed_wheel()
    tmp = tmp_path_factory.mktemp('wheel')
    src = tmp / 'src'
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        '.git', '.venv*', 'work_dirs', 'data', 'checkpoints', 'outputs',
        'build', '*.egg-info', '__pycache__'))
    run((PYTHON, '-m', 'pip', 'wheel', '--quiet', '--no-deps',
         '--no-build-isolation', str(src), '-w', str(tmp / 'dist')),
        timeout=300)
    (built, ) = (tmp / 'dist').glob('swiftformer_mm-*.whl')
    return str(built)


def test_wheel_carries_configs_and_tools_not_the_repository(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    mim = 'swiftformer_mm/.mim/'
    configs = sorted(osp.relpath(p, ROOT) for p in glob.glob(
        osp.join(ROOT, 'configs', '**', '*.py'), recursive=True))
    assert configs and [n for n in configs if mim + n not in names] == []
    assert [t for t in SHIPPED_TOOLS if f'{mim}tools/{t}' not in names] == []
    packaged = [n for n in names if n.startswith(mim)]
    assert [n for n in packaged for bad in NOT_SHIPPED
            if n[len(mim):].startswith(bad)] == []
    assert not any('__pycache__' in n for n in names)
    # the package's own modules, and nothing from the tests
    assert 'swiftformer_mm/models/swiftformer.py' in names
    assert not any(n.startswith('tests/') for n in names)


_OUTSIDE = r'''
import json, os, sys
import swiftformer_mm
from mmengine.config import Config
from mmengine.registry import init_default_scope
from swiftformer_mm.configs import config_dir, get_config_path, list_configs

built = {}
for name, scope in (('detection/mask_rcnn_swiftformer_l1.py', 'mmdet'),
                    ('segmentation/semantic_fpn_swiftformer_l1.py', 'mmseg')):
    cfg = Config.fromfile(get_config_path(name))
    cfg.model.backbone.init_cfg = None
    init_default_scope(scope)
    registry = __import__(scope + '.registry', fromlist=['MODELS']).MODELS
    model = registry.build(cfg.model)
    built[name] = [type(model).__name__, type(model.backbone).__name__,
                   list(model.backbone.widths)]

# a user's own config based on a shipped one, as mmdet users base theirs
with open('my_mask_rcnn.py', 'w') as f:
    f.write(f"_base_ = {get_config_path('detection/mask_rcnn_swiftformer_xs.py')!r}\n"
            "custom_imports = dict(imports=['swiftformer_mm'], "
            "allow_failed_imports=False)\n"
            "model = dict(roi_head=dict(bbox_head=dict(num_classes=3), "
            "mask_head=dict(num_classes=3)), backbone=dict(init_cfg=None))\n")
user = Config.fromfile('my_mask_rcnn.py')
init_default_scope('mmdet')
from mmdet.registry import MODELS
model = MODELS.build(user.model)
print(json.dumps(dict(
    package=swiftformer_mm.__file__, config_dir=config_dir(),
    configs=len(list_configs()), built=built,
    user_classes=model.roi_head.bbox_head.num_classes,
    user_widths=list(model.backbone.widths))))
'''


@needs_wheel
def test_installed_wheel_builds_the_papers_models_outside_the_repository(
        tmp_path):
    found = json.loads(run((PYTHON, '-c', _OUTSIDE), cwd=tmp_path,
                           timeout=300).stdout.strip().splitlines()[-1])
    site = osp.dirname(osp.dirname(found['package']))
    assert osp.dirname(found['package']) != osp.join(ROOT, 'swiftformer_mm')
    assert found['config_dir'] == osp.join(site, 'swiftformer_mm', '.mim',
                                           'configs')
    assert found['configs'] >= 15
    l1 = [48, 96, 192, 384]
    assert found['built'] == {
        'detection/mask_rcnn_swiftformer_l1.py': ['MaskRCNN', 'SwiftFormer', l1],
        'segmentation/semantic_fpn_swiftformer_l1.py':
            ['EncoderDecoder', 'SwiftFormer', l1]}
    assert found['user_classes'] == 3
    assert found['user_widths'] == [48, 56, 112, 220]  # XS


@needs_wheel
def test_configs_command_lists_and_finds_configs_outside_the_repository(
        tmp_path):
    listed = run((PYTHON, '-m', 'swiftformer_mm.configs'),
                 cwd=tmp_path).stdout.split()
    assert 'detection/mask_rcnn_swiftformer_l1.py' in listed
    path = run((PYTHON, '-m', 'swiftformer_mm.configs',
                'detection/mask_rcnn_swiftformer_l1'), cwd=tmp_path).stdout
    assert osp.isfile(path.strip()) and '.mim' in path
    wrong = run((PYTHON, '-m', 'swiftformer_mm.configs',
                 'detection/mask_rcnn_swiftformer_l2.py'), cwd=tmp_path,
                check=False)
    assert wrong.returncode == 1
    assert 'did you mean' in wrong.stderr
    assert "'detection/mask_rcnn_swiftformer_l1.py'" in wrong.stderr


@needs_wheel
def test_installing_the_wheel_changes_neither_torch_nor_mmcv(tmp_path):
    """``pip install --dry-run`` of the wheel into this environment (the
    oldest stack): pip would install nothing but the package itself. The
    set-up made the same check before it installed the wheel the first time
    (``$VENV/dry-run.json``)."""
    report = tmp_path / 'report.json'
    subprocess.run([PYTHON, '-m', 'pip', 'install', '--dry-run', '--quiet',
                    '--no-index', '--report', str(report), _installed_wheel()],
                   check=True, capture_output=True, text=True, timeout=300)
    would = {i['metadata']['name'].lower().replace('_', '-')
             for i in json.loads(report.read_text())['install']}
    assert would <= {'swiftformer-mm'}
    first = osp.join(sys.prefix, 'dry-run.json')
    with open(first) as f:
        first_would = {i['metadata']['name'].lower() for i in
                       json.load(f)['install']}
    assert not first_would & {'torch', 'torchvision', 'mmcv', 'numpy',
                              'mmengine', 'mmdet', 'mmsegmentation',
                              'mmpretrain'}, first_would


@needs_wheel
@pytest.mark.slow
@pytest.mark.stacks
def test_mim_train_and_test_swiftformer_mm_from_the_wheel(tmp_path):
    """``mim train swiftformer_mm CONFIG`` runs the wheel's own
    ``.mim/tools/train.py`` on a config it finds by name in ``.mim/configs``
    (as ``mim train mmdet`` does for mmdet's), then ``mim test`` tests it."""
    from conftest import DEMO_CLASSIFIER, MIM, write_demo_classifier
    from swiftformer_mm.demo_data import coco
    coco.generate(str(tmp_path / 'data/demo_coco'), num_train=4, num_val=2)
    write_demo_classifier(tmp_path / DEMO_CLASSIFIER)
    env = dict(OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore',
               CUDA_VISIBLE_DEVICES='')
    log = run((MIM, 'train', 'swiftformer_mm'),
              'mask_rcnn_swiftformer_xs_demo.py', '--work-dir', 'work',
              '--cfg-options', 'train_cfg.max_epochs=1', cwd=tmp_path,
              env=env, timeout=900).log
    assert 'SwiftFormer: loaded 307/327 tensors from mmpretrain checkpoint' \
        in log, log[-3000:]
    assert osp.isfile(tmp_path / 'work/epoch_1.pth')
    log = run((MIM, 'test', 'swiftformer_mm'),
              'mask_rcnn_swiftformer_xs_demo.py', '--checkpoint',
              'work/epoch_1.pth', '--work-dir', 'work/test', cwd=tmp_path,
              env=env, timeout=900).log
    assert 'coco/bbox_mAP' in log and 'coco/segm_mAP' in log


@needs_wheel
def test_mim_search_reads_the_model_zoo_from_the_wheel(tmp_path):
    """``mim search`` reads ``.mim/model-index.yml`` and the metafiles the
    wheel carries: the paper's figures, as the README's model zoo shows."""
    from conftest import MIM
    out = run((MIM, 'search', 'swiftformer_mm', '--config',
               'mask_rcnn_swiftformer_l1', '--field', 'coco/box_ap',
               'coco/mask_ap'), cwd=tmp_path).stdout
    figures = dict(line.split() for line in out.splitlines()
                   if line.startswith('coco/'))
    assert figures == {'coco/box_ap': '41.2', 'coco/mask_ap': '38.1'}, out
