#!/usr/bin/env bash
# Semantic segmentation demo on a CPU, end to end, in a few minutes:
#   1. set up .venv/ (seconds when it is already there),
#   2. generate the ADE20K-format demo dataset
#      (python -m swiftformer_mm.demo_data.ade),
#   3. train Semantic FPN + SwiftFormer-XS from scratch with tools/train.py
#      (configs/segmentation/semantic_fpn_swiftformer_xs_demo.py),
#   4. evaluate the checkpoint with tools/test.py and print its mIoU next to
#      the chance level,
#   5. save a picture of a predicted mask (demo/seg_image_demo.py,
#      mmseg's MMSegInferencer).
#
#   bash tools/run_seg_demo.sh
#
# Environment: DATA_DIR (default data/ade_demo), WORK_DIR (default
# work_dirs/semantic_fpn_swiftformer_xs_demo), OUT (default
# outputs/seg_demo.png), OMP_NUM_THREADS (default 1: on the shared 2-core
# machines one thread per process ran 3-10x faster than two under load; on
# an idle machine set it to the number of cores).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash tools/setup_env.sh

PY="$ROOT/.venv/bin/python"
CONFIG=configs/segmentation/semantic_fpn_swiftformer_xs_demo.py
DATA_DIR="${DATA_DIR:-data/ade_demo}"
WORK_DIR="${WORK_DIR:-work_dirs/semantic_fpn_swiftformer_xs_demo}"
OUT="${OUT:-outputs/seg_demo.png}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
export PYTHONWARNINGS="${PYTHONWARNINGS:-ignore}"
DATA_OPTIONS=(
  "train_dataloader.dataset.dataset.data_root=$DATA_DIR"
  "val_dataloader.dataset.data_root=$DATA_DIR"
  "test_dataloader.dataset.data_root=$DATA_DIR"
)
start=$(date +%s)

echo "== generating the demo dataset in $DATA_DIR"
"$PY" -m swiftformer_mm.demo_data.ade "$DATA_DIR"

echo "== training ($CONFIG, log in $WORK_DIR)"
"$PY" tools/train.py "$CONFIG" --work-dir "$WORK_DIR" \
  --cfg-options "${DATA_OPTIONS[@]}"
train_end=$(date +%s)
checkpoint="$(cat "$WORK_DIR/last_checkpoint")"

echo "== testing $checkpoint"
test_log="$WORK_DIR/test_output.log"
"$PY" tools/test.py "$CONFIG" "$checkpoint" --work-dir "$WORK_DIR/test" \
  --cfg-options "${DATA_OPTIONS[@]}" 2>&1 | tee "$test_log"
miou="$(grep -o 'mIoU: [0-9.]*' "$test_log" | tail -n 1 | cut -d' ' -f2)"
if [ -z "$miou" ]; then
  echo "tools/test.py printed no mIoU; see $test_log" >&2
  exit 1
fi

echo "== picture of a predicted mask"
image="$(ls "$DATA_DIR"/images/validation/*.jpg | head -n 1)"
"$PY" demo/seg_image_demo.py "$image" "$CONFIG" "$checkpoint" --out "$OUT"

end=$(date +%s)
chance="$("$PY" -c 'import json, sys
c = json.load(open(sys.argv[1]))["val_chance_miou"]
print("uniform random %.2f, majority class %.2f" % (c["uniform"], c["majority"]))' \
  "$DATA_DIR/demo_meta.json")"
echo
echo "demo val mIoU: $miou (chance level: $chance)"
echo "wall time: data + training $((train_end - start)) s, total $((end - start)) s" \
  "(OMP_NUM_THREADS=$OMP_NUM_THREADS)"
echo "picture: $OUT"
