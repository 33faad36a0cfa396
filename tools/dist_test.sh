#!/usr/bin/env bash
# Distributed evaluation with torchrun, for detection and segmentation configs.
#
#   bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py options...]
#   e.g. bash tools/dist_test.sh configs/detection/mask_rcnn_swiftformer_l1.py \
#            work_dirs/mask_rcnn_swiftformer_l1/epoch_12.pth 8
#
# Multi-node: run on every node with the same NNODES, MASTER_ADDR and PORT and
# that node's NODE_RANK (0..NNODES-1); GPUS is the count per node.
# PYTHON picks the interpreter (default: the repository's .venv, else python).
set -euo pipefail
if [[ $# -lt 3 ]]; then
  echo "usage: $0 CONFIG CHECKPOINT GPUS_PER_NODE [tools/test.py options...]" >&2
  exit 2
fi
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
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
    "$TOOLS/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "${@:4}"
