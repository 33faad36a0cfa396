"""Shared helpers: realistic random weights and checkpoint writers, and
:func:`run`, the one way the tests start a command (a tool, a script,
``mim``, ``python -c``) as a user would."""
import importlib.util
import os
import os.path as osp
import shlex
import subprocess
import sys

import pytest
import torch
import torch.nn as nn

from swiftformer_mm.analysis.weights import randomize_  # noqa: F401

# Deterministic, quiet CPU runs on the 2-core CI machines; under
# pytest-xdist (tools/run_tests.sh) each worker gets its share of the cores.
_WORKERS = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))
torch.set_num_threads(max(1, min(2, (os.cpu_count() or 1) // _WORKERS)))

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# the repository's own tooling (doc_tables), which the package does not carry
sys.path.insert(0, osp.join(ROOT, '.dev_scripts'))
#: The lane of an installed (non-editable) package, `bash tools/run_tests.sh
#: --oldest`: the repository is then never put on a child's import path, so
#: that children import the wheel as a user's process would.
INSTALLED = os.environ.get('SWIFTFORMER_MM_TEST_INSTALLED') == '1'
if INSTALLED:
    import swiftformer_mm
    if osp.dirname(osp.abspath(swiftformer_mm.__file__)) == osp.join(
            ROOT, 'swiftformer_mm'):
        raise RuntimeError(
            f'SWIFTFORMER_MM_TEST_INSTALLED=1 but swiftformer_mm comes from '
            f'the repository ({swiftformer_mm.__file__}), not from the '
            'installed wheel: run with PYTHONSAFEPATH=1 (as tools/'
            'run_tests.sh --oldest does) so that the working directory is '
            'not put on sys.path.')
PYTHON = sys.executable
MIM = osp.join(osp.dirname(PYTHON), 'mim')  # OpenMIM, beside this Python


def _shown(argv) -> str:
    """The command line for an error message (long arguments, such as a
    script given to ``python -c``, cut short)."""
    return shlex.join(a if len(a) <= 200 else a[:80] + '...' for a in argv)


def run(command, *args, cwd=None, env=None, check=True, timeout=600,
        input=None):
    """Run a command as a user would and return its ``CompletedProcess``
    (text ``stdout`` and ``stderr``, plus ``log``: stdout then stderr).

    ``command`` is one of ours, run with this Python: a tool by file name
    (``'train.py'`` is tools/train.py) or a file by its path from the
    repository root (``'tools/deployment/deploy.py'``,
    ``'demo/det_image_demo.py'``); or the whole command as a list or tuple
    (``(MIM, 'train', 'mmdet')``, ``(PYTHON, '-c', CODE)``). ``args`` follow
    it (``str()`` of each: paths may be ``Path`` objects).

    It runs in ``cwd`` (default: the repository root) with the caller's
    environment plus ``OMP_NUM_THREADS=2`` and ``cwd`` and the repository
    first on ``PYTHONPATH`` (where the tiny test configs put their
    ``custom_imports`` modules; not the repository in the :data:`INSTALLED`
    lane); ``env`` then sets variables over these, and
    removes those it gives as ``None``. With ``check``, a non-zero exit
    status fails with an ``AssertionError`` that shows the command and the
    tail of its output; running past ``timeout`` seconds always does.
    """
    cwd = str(cwd or ROOT)
    paths = (cwd, ROOT, os.environ.get('PYTHONPATH'))
    if INSTALLED:  # the tests' helper modules, not the package's sources
        paths = [p for p in paths if p and osp.abspath(p) != ROOT] + [
            osp.join(ROOT, 'tests')]
    full_env = dict(os.environ, OMP_NUM_THREADS='2',
                    PYTHONPATH=os.pathsep.join(dict.fromkeys(
                        p for p in paths if p)))
    for key, value in (env or {}).items():
        if value is None:
            full_env.pop(key, None)
        else:
            full_env[key] = str(value)
    if isinstance(command, (str, os.PathLike)):
        command = str(command)
        path = osp.join(ROOT, command if '/' in command
                        else osp.join('tools', command))
        assert osp.isfile(path), f'run: no such tool or script: {path}'
        argv = [PYTHON, path]
    else:
        argv = [str(part) for part in command]
    argv += [str(arg) for arg in args]
    try:
        proc = subprocess.run(argv, cwd=cwd, env=full_env, input=input,
                              capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        def tail(out, n):  # what it wrote before it was killed (bytes)
            if isinstance(out, bytes):
                out = out.decode(errors='replace')
            return (out or '')[-n:]
        raise AssertionError(
            f'{_shown(argv)} (in {cwd}) ran past {timeout} s:\n'
            f'--- stdout ---\n{tail(exc.stdout, 3000)}\n'
            f'--- stderr ---\n{tail(exc.stderr, 6000)}') from None
    proc.log = proc.stdout + proc.stderr
    if check and proc.returncode != 0:
        raise AssertionError(
            f'{_shown(argv)} (in {cwd}) exited with {proc.returncode}:\n'
            f'--- stdout ---\n{proc.stdout[-3000:]}\n'
            f'--- stderr ---\n{proc.stderr[-6000:]}')
    return proc


@pytest.fixture
def run_command():
    """:func:`run`, for tests that take their helpers as fixtures."""
    return run


def _cpu_has_float16() -> bool:
    """Whether this torch computes float16 matmuls and autocast on the CPU
    (torch 2.1 does neither)."""
    try:
        with torch.autocast('cpu', dtype=torch.float16):
            torch.nn.functional.linear(torch.ones(1, 2), torch.ones(2, 2))
        torch.ones(2, 2).half() @ torch.ones(2, 2).half()
        return True
    except RuntimeError:
        return False


#: ``torch.float16`` as a test parameter, skipped where this torch has no
#: float16 CPU math.
FLOAT16_ON_CPU = pytest.param(torch.float16, marks=pytest.mark.skipif(
    not _cpu_has_float16(), reason=f'torch {torch.__version__} has no '
    'float16 matmul or autocast on the CPU'))


#: Whether ExecuTorch is there to deploy to (the newest stack only).
EXECUTORCH = importlib.util.find_spec('executorch') is not None


def identity_out_norms(model: nn.Module) -> nn.Module:
    """Replace the backbone's output norms by identities (for comparisons with
    classification implementations, which have none)."""
    for idx in (0, 2, 4, 6):
        if hasattr(model, f'norm{idx}'):
            setattr(model, f'norm{idx}', nn.Identity())
    return model


def authors_state_dict(model: nn.Module) -> dict:
    """``model``'s backbone weights in the authors' release layout: their
    ``Proj`` spelling, plus the classification norm and the two heads that
    their files carry (and loading must drop); no output norms."""
    backbone = {k: v for k, v in model.state_dict().items()
                if not k.startswith('norm')}
    sd = {k.replace('.attn.proj.', '.attn.Proj.'): v
          for k, v in backbone.items()}
    width = model.widths[-1]
    sd.update({'norm.weight': torch.ones(width),
               'norm.bias': torch.zeros(width),
               'norm.running_mean': torch.zeros(width),
               'norm.running_var': torch.ones(width),
               'head.weight': torch.zeros(1000, width),
               'head.bias': torch.zeros(1000),
               'dist_head.weight': torch.zeros(1000, width),
               'dist_head.bias': torch.zeros(1000)})
    return sd


def write_authors_checkpoint(path, arch: str, seed: int = 0) -> dict:
    """Save a SwiftFormer with random weights as the authors do (wrapped in
    ``model``) and return its backbone state dict in this project's names."""
    from swiftformer_mm.models import SwiftFormer
    model = randomize_(SwiftFormer(arch), seed)
    torch.save({'model': authors_state_dict(model)}, str(path))
    return {k: v for k, v in model.state_dict().items()
            if not k.startswith('norm')}


DEMO_CLASSIFIER = 'checkpoints/swiftformer_xs_demo_cls.pth'


def write_demo_classifier(path, seed: int = 0) -> dict:
    """Save the classification demo's model (random weights) as mmengine's
    Runner saves it, where the detection/segmentation demo configs' backbone
    ``init_cfg`` reads it (:data:`DEMO_CLASSIFIER`, relative to the working
    directory), and return the weights a detector's or segmentor's backbone
    takes from it: the trunk (its output norms start fresh, as from an
    ImageNet file)."""
    import os.path as osp

    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    cfg = Config.fromfile(
        osp.join(root, 'configs/classification/swiftformer_xs_demo.py'))
    init_default_scope('mmpretrain')
    model = randomize_(MODELS.build(cfg.model), seed)
    os.makedirs(osp.dirname(str(path)) or '.', exist_ok=True)
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, str(path))
    return {k[len('backbone.'):]: v for k, v in model.state_dict().items()
            if k.startswith('backbone.') and not k.startswith('backbone.norm')}


def pipeline_step(pipeline, type_name: str) -> dict:
    """The one transform of type ``type_name`` in a data pipeline."""
    steps = [step for step in pipeline if step['type'] == type_name]
    assert len(steps) == 1, f'expected one {type_name} in {pipeline}'
    return steps[0]


def relative_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    """Max absolute difference over the feature scale (at least 1)."""
    return ((out - ref).abs().max() / ref.abs().max().clamp(min=1)).item()


@pytest.fixture
def rand_image():
    def make(*shape, seed=0):
        return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))
    return make
