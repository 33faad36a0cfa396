"""tools/analysis_tools/reproduce.py end to end on the demo configs: launch
trains and tests each config in its own work dir with the project's
launcher (here one process), gather reads them back into the Table 3
comparison, as Markdown and CSV."""
import csv
import json
import os.path as osp

import pytest

from conftest import run
from swiftformer_mm.analysis import reproduce
from swiftformer_mm.demo_data import ade, coco

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOL = 'tools/analysis_tools/reproduce.py'
ENV = dict(OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore')


@pytest.mark.slow
def test_launch_and_gather_on_the_demo_configs(tmp_path):
    coco.generate(str(tmp_path / 'data/demo_coco'), num_train=4, num_val=2,
                  image_size=(64, 64), min_radius=8, max_radius=20)
    ade.generate(str(tmp_path / 'data/ade_demo'), num_train=2, num_val=2)
    det = osp.join(ROOT, 'configs/detection/mask_rcnn_swiftformer_xs_demo.py')
    seg = osp.join(ROOT,
                   'configs/segmentation/semantic_fpn_swiftformer_xs_demo.py')
    scratch = 'model.backbone.init_cfg=None'
    run(TOOL, 'launch', '--configs', det, '--launcher', 'none',
        '--cfg-options', scratch, 'train_cfg.max_epochs=1',
        'train_dataloader.batch_size=2', cwd=tmp_path, env=ENV, timeout=900)
    run(TOOL, 'launch', '--configs', seg, '--launcher', 'none',
        '--cfg-options', scratch, 'train_cfg.max_iters=2',
        'train_cfg.val_interval=2', 'default_hooks.checkpoint.interval=2',
        'train_dataloader.batch_size=2', cwd=tmp_path, env=ENV, timeout=900)
    work = tmp_path / 'work_dirs/reproduce'
    record = json.loads((work / 'mask_rcnn_swiftformer_xs_demo' /
                         'reproduce.json').read_text())
    assert record['config'] == 'configs/detection/mask_rcnn_swiftformer_xs_demo.py'
    assert record['commit'] == reproduce.commit()
    assert record['checkpoint'].endswith('epoch_1.pth')

    out = run(TOOL, 'gather', cwd=tmp_path, env=ENV, timeout=900).stdout
    assert '### Mask R-CNN, COCO (paper: Table 3)' in out
    assert '### Semantic FPN, ADE20K (paper: Table 3)' in out
    with open(work / 'table.csv') as f:
        rows = {r['config'].split('/')[-1]: r for r in csv.DictReader(f)}
    det_row = rows['mask_rcnn_swiftformer_xs_demo.py']
    seg_row = rows['semantic_fpn_swiftformer_xs_demo.py']
    assert 0 <= float(det_row['box AP']) <= 100
    assert 0 <= float(det_row['mask AP']) <= 100
    assert 0 <= float(seg_row['mIoU']) <= 100
    # Table 3 has no XS: the paper columns stay empty for the demo configs
    assert det_row['box AP (paper)'] == '' and seg_row['mIoU (paper)'] == ''
    assert float(det_row['params (M)']) > 3 and float(det_row['GFLOPs']) > 0
    assert det_row['input'] == '256x256' and seg_row['input'] == '128x128'
    assert osp.isfile(work / 'mask_rcnn_swiftformer_xs_demo' /
                      det_row['log'])


def test_dry_run_prints_the_paper_commands(tmp_path):
    out = run(TOOL, 'launch', '--tasks', 'det', 'seg', '--archs', 'l1',
              '--launcher', 'slurm', '--partition', 'gpu', '--dry-run',
              cwd=tmp_path, env=ENV, timeout=900).stdout
    lines = out.strip().splitlines()
    assert len(lines) == 4  # train and test, two configs
    assert 'slurm_train.sh gpu mask_rcnn_swiftformer_l1 ' in lines[0]
    assert 'configs/segmentation/semantic_fpn_swiftformer_l1.py' in lines[2]
    assert reproduce.PAPER[('mmdet', 'l1')]['bbox_mAP'] == 41.2
    assert reproduce.PAPER[('mmseg', 'l3')]['mIoU'] == 43.9
