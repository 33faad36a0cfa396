#!/usr/bin/env bash
# The classification demo, end to end on CPU, nothing downloaded; the
# detection and segmentation demos start from its weights, as real models
# start from ImageNet's:
#   1. set up .venv/ (seconds when it is already there),
#   2. generate a classification set in ImageNet's folder layout
#      (swiftformer_mm.demo_data.cls: the detection demo's 3 shapes and the
#      segmentation demo's 6 materials, 720 train / 180 val images),
#   3. train a SwiftFormer-XS classifier from scratch with mmpretrain
#      (configs/classification/swiftformer_xs_demo.py, tools/train.py),
#   4. evaluate the final checkpoint: top-1 on the validation split against
#      chance (tools/test.py),
#   5. copy it to checkpoints/swiftformer_xs_demo_cls.pth (CHECKPOINT), the
#      file the demo configs' backbone init_cfg names.
#
#   bash tools/run_cls_demo.sh      # WORK_DIR=work_dirs/swiftformer_xs_cls_demo
#
# RECORD=1 appends the top-1 and the time, with the conditions, to
# docs/records/demo.jsonl.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash tools/setup_env.sh

PY="$ROOT/.venv/bin/python"
CONFIG=configs/classification/swiftformer_xs_demo.py
DATA_DIR="${DATA_DIR:-data/demo_cls}"
WORK_DIR="${WORK_DIR:-work_dirs/swiftformer_xs_cls_demo}"
CHECKPOINT="${CHECKPOINT:-checkpoints/swiftformer_xs_demo_cls.pth}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
export PYTHONWARNINGS="${PYTHONWARNINGS:-ignore}"
DATA_OPTIONS=(
  "train_dataloader.dataset.data_root=$DATA_DIR"
  "val_dataloader.dataset.data_root=$DATA_DIR"
  "test_dataloader.dataset.data_root=$DATA_DIR"
)
start=$(date +%s)

echo "== generating the demo dataset in $DATA_DIR"
"$PY" -m swiftformer_mm.demo_data.cls "$DATA_DIR"

echo "== training ($CONFIG, log in $WORK_DIR)"
"$PY" tools/train.py "$CONFIG" --work-dir "$WORK_DIR" \
  --cfg-options "${DATA_OPTIONS[@]}"
train_end=$(date +%s)
checkpoint="$(cat "$WORK_DIR/last_checkpoint")"

echo "== testing $checkpoint"
test_log="$WORK_DIR/test_output.log"
"$PY" tools/test.py "$CONFIG" "$checkpoint" --work-dir "$WORK_DIR/test" \
  --cfg-options "${DATA_OPTIONS[@]}" 2>&1 | tee "$test_log"
top1="$(grep -o 'accuracy/top1: [0-9.]*' "$test_log" | tail -n 1 | cut -d' ' -f2)"
if [ -z "$top1" ]; then
  echo "tools/test.py printed no top-1; see $test_log" >&2
  exit 1
fi
mkdir -p "$(dirname "$CHECKPOINT")"
cp "$checkpoint" "$CHECKPOINT.tmp" && mv "$CHECKPOINT.tmp" "$CHECKPOINT"
end=$(date +%s)
chance="$("$PY" -c 'from swiftformer_mm.demo_data.cls import CLASSES; print("%.2f" % (100 / len(CLASSES)))')"
echo
echo "demo val top-1: $top1 % (chance: $chance %)"
echo "wall time: data + training $((train_end - start)) s, total $((end - start)) s" \
  "(OMP_NUM_THREADS=$OMP_NUM_THREADS)"
echo "weights for the detection and segmentation demos: $CHECKPOINT"
"$PY" -c 'from swiftformer_mm.analysis.records import cpu_model, cpu_int8_class
print(f"CPU: {cpu_model()} ({cpu_int8_class()}); bit-identical run to run on one kind of CPU, not across kinds")'
if [[ "${RECORD:-0}" == 1 ]]; then
  "$PY" -m swiftformer_mm.analysis.records demo demo=classification \
    --figure "top1=$top1" "seconds=$((end - start))" \
    --command "bash tools/run_cls_demo.sh"
fi
