"""swiftformer_mm: SwiftFormer backbones for MMDetection 3.x and MMSegmentation 1.x."""
import os.path as osp

from setuptools import find_packages, setup


def read_version():
    namespace = {}
    with open(osp.join(osp.dirname(__file__), 'swiftformer_mm', 'version.py')) as f:
        exec(f.read(), namespace)
    return namespace['__version__']


setup(
    name='swiftformer_mm',
    version=read_version(),
    description='SwiftFormer backbones, configs and tools for MMDetection, '
    'MMSegmentation and MMPretrain',
    long_description=open('README.md', encoding='utf-8').read()
    if osp.exists('README.md') else '',
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    packages=find_packages(exclude=('tests', 'tests.*', 'configs', 'tools')),
    python_requires='>=3.9',
    install_requires=[
        # torch.serialization.add_safe_globals with (object, name) pairs,
        # which the Runner-checkpoint allow-list uses, came with torch 2.6.
        'torch>=2.6',
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
        # Hugging Face hub weights (model.safetensors)
        'safetensors': ['safetensors'],
    },
    classifiers=[
        'Programming Language :: Python :: 3',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
)
