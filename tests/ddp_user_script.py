"""A user's own distributed training script, without this project's tools:
launched with torchrun, it builds a shipped mmseg config with SwiftFormer
swapped in (``custom_imports`` only) and wraps the model as mmengine's Runner
does (``MMDistributedDataParallel``, ``find_unused_parameters`` off), on CPU
with gloo. Used by tests/test_head_families.py.

    python -m torch.distributed.run --nproc_per_node=2 \
        tests/ddp_user_script.py mmseg::fcn/fcn_r50-d8_4xb4-80k_ade20k-512x512.py
"""
import sys

import torch
import torch.distributed as dist
from mmengine.model import MMDistributedDataParallel
from mmengine.optim import OptimWrapper

from test_head_families import SEG_FAMILIES, user_config
from test_mm_integration import _seg_batch, build


def main(base: str):
    dist.init_process_group('gloo')
    rank = dist.get_rank()
    family = next(k for k, (b, _) in SEG_FAMILIES.items() if b == base)
    import pathlib
    workdir = pathlib.Path(f'rank{rank}')
    workdir.mkdir(exist_ok=True)
    cfg = user_config(workdir, base, 'SwiftFormer', SEG_FAMILIES[family][1],
                      extra='model.update(pretrained=None)')
    cfg.model.data_preprocessor.size = (64, 64)
    torch.manual_seed(0)  # same initial weights on both ranks
    model = build(cfg, 'mmseg.registry')
    ddp = MMDistributedDataParallel(module=model, device_ids=None)
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))
    for step in range(1, 4):
        log = ddp.train_step(_seg_batch([(64, 64)]), optim)
        print(f'rank {rank} step {step} loss {float(log["loss"]):.4f}',
              flush=True)
    dist.destroy_process_group()


if __name__ == '__main__':
    main(sys.argv[1])
