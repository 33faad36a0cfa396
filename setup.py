"""swiftformer_mm: SwiftFormer backbones for MMDetection 3.x and MMSegmentation 1.x.

The wheel carries the configs and the user tools inside the package, under
``swiftformer_mm/.mim/`` as mmdet and mmseg ship theirs, so that they work
from an installed package outside a clone: ``swiftformer_mm.get_config_path``
finds a config, and ``mim train swiftformer_mm CONFIG`` runs the shipped
``tools/train.py``. An editable install reads the clone's own folders.
"""
import os
import os.path as osp
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = osp.dirname(osp.abspath(__file__))

#: What the wheel carries under swiftformer_mm/.mim/, from the repository
#: root: the configs, and the tools a user runs (not the repository's own
#: set-up, demo and test scripts, which need a clone).
MIM_FILES = ('configs', 'model-index.yml', 'tools/train.py', 'tools/test.py',
             'tools/dist_train.sh', 'tools/dist_test.sh',
             'tools/slurm_train.sh', 'tools/slurm_test.sh',
             'tools/deployment', 'tools/model_converters',
             'tools/analysis_tools/get_flops.py',
             'tools/analysis_tools/benchmark.py',
             'tools/analysis_tools/show_predictions.py',
             'tools/analysis_tools/reproduce.py', 'demo')


class BuildWithMimFiles(build_py):
    """``build_py`` that also copies :data:`MIM_FILES` into the built
    package's ``.mim/`` folder."""

    def run(self):
        super().run()
        mim = osp.join(self.build_lib, 'swiftformer_mm', '.mim')
        shutil.rmtree(mim, ignore_errors=True)
        for name in MIM_FILES:
            src, dst = osp.join(HERE, name), osp.join(mim, name)
            if not osp.exists(src):
                continue  # e.g. model-index.yml in a tree that has none
            os.makedirs(osp.dirname(dst), exist_ok=True)
            if osp.isdir(src):
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns(
                    '__pycache__', '*.pyc'))
            else:
                shutil.copy2(src, dst)


def read_version():
    namespace = {}
    with open(osp.join(HERE, 'swiftformer_mm', 'version.py')) as f:
        exec(f.read(), namespace)
    return namespace['__version__']


def read_readme():
    path = osp.join(HERE, 'README.md')
    if not osp.exists(path):
        return ''
    with open(path, encoding='utf-8') as f:
        return f.read()


setup(
    name='swiftformer_mm',
    version=read_version(),
    description='SwiftFormer backbones, configs and tools for MMDetection, '
    'MMSegmentation and MMPretrain',
    long_description=read_readme(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    packages=find_packages(include=('swiftformer_mm', 'swiftformer_mm.*')),
    cmdclass={'build_py': BuildWithMimFiles},
    python_requires='>=3.9',
    # The supported stacks (README, "Install into your existing OpenMMLab
    # environment"): from torch 2.1 with mmcv 2.1.0 (the last combination
    # OpenMMLab ships prebuilt) to torch 2.13. Nothing here may make pip
    # replace the torch or mmcv of an environment in that range.
    install_requires=[
        'torch>=2.1',
        'torchvision',
        # mmdet 3.3 and mmseg 1.2 refuse mmcv >= 2.2 at import.
        'mmcv>=2.0.0,<2.2.0',
        'mmengine>=0.10.0,<1.0.0',
        'mmdet>=3.0.0,<3.4.0',
        'mmsegmentation>=1.0.0,<1.3.0',
        # the ImageNet classifiers (configs/classification)
        'mmpretrain>=1.0.0,<1.3.0',
        # mmseg imports these at import time without declaring them.
        'ftfy',
        'regex',
        'pycocotools',
        'numpy',
    ],
    extras_require={
        # Independent implementations used by the parity tests, and ONNX export.
        # pytest-xdist: tools/run_tests.sh runs the suite on every core.
        'tests': ['pytest', 'pytest-xdist', 'timm', 'transformers',
                  'safetensors', 'onnx', 'onnxruntime'],
        'onnx': ['onnx', 'onnxruntime'],
        # ONNX Runtime and OpenVINO, fp32 and INT8 (NNCF), on any supported
        # torch. mmdeploy itself is installed with `pip install --no-deps
        # mmdeploy==1.3.1`: its declared protobuf<=3.20.2 would downgrade
        # onnx (see docs/deployment.md).
        'deploy': ['onnx', 'onnxruntime', 'openvino', 'nncf', 'aenum'],
        # ExecuTorch (phones): executorch 1.5 is built against torch 2.13,
        # so this extra needs that torch; install executorch and torchao
        # with --no-deps as tools/setup_env.sh does to skip their LLM and
        # CoreML dependencies.
        'executorch': ['torch>=2.13', 'executorch>=1.5', 'torchao>=0.18',
                       'flatbuffers', 'ruamel.yaml'],
        # Hugging Face hub weights (model.safetensors)
        'safetensors': ['safetensors'],
    },
    classifiers=[
        'Programming Language :: Python :: 3',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
)
