#!/usr/bin/env bash
# Distributed training with torchrun, for detection and segmentation configs.
#
#   bash tools/dist_train.sh CONFIG GPUS [train.py options...]
#   e.g. bash tools/dist_train.sh configs/detection/mask_rcnn_swiftformer_l1.py 8
#
# Multi-node: run on every node with the same NNODES, MASTER_ADDR and PORT and
# that node's NODE_RANK (0..NNODES-1); GPUS is the count per node.
# PYTHON picks the interpreter (default: the repository's .venv, else python).
set -euo pipefail
if [[ $# -lt 2 ]]; then
  echo "usage: $0 CONFIG GPUS_PER_NODE [tools/train.py options...]" >&2
  exit 2
fi
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
TOOLS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$TOOLS")"
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "$ROOT/.venv/bin/python" ]]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python; fi
fi

PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" \
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --master_port="$PORT" \
    --nproc_per_node="$GPUS" \
    "$TOOLS/train.py" "$CONFIG" --launcher pytorch "${@:3}"
