#!/usr/bin/env bash
# The detection demo, end to end on CPU in a few minutes, nothing downloaded:
#   1. set up .venv/ (seconds when it is already there),
#   2. generate a small COCO-format shapes dataset (data/demo_coco),
#   3. train Mask R-CNN + FPN with a SwiftFormer-XS backbone from scratch
#      (configs/detection/mask_rcnn_swiftformer_xs_demo.py, tools/train.py),
#   4. evaluate the final checkpoint: COCO box and mask AP (tools/test.py),
#   5. draw its predictions on validation images (demo/det_image_demo.py).
#
#   bash tools/run_demo.sh            # WORK_DIR=work_dirs/mask_rcnn_swiftformer_xs_demo
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
start=$(date +%s)

bash tools/setup_env.sh
PY="$ROOT/.venv/bin/python"
export PYTHONWARNINGS="${PYTHONWARNINGS:-ignore}"
# One compute thread: on shared 2-core machines a second thread mostly spins
# (a training step measured 2.5x slower in wall time with 2 threads than with
# 1 there). On an idle machine OMP_NUM_THREADS=2 bash tools/run_demo.sh.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

CONFIG=configs/detection/mask_rcnn_swiftformer_xs_demo.py
DATA=data/demo_coco
WORK_DIR="${WORK_DIR:-work_dirs/mask_rcnn_swiftformer_xs_demo}"

echo "[demo] generating the dataset in $DATA"
"$PY" -m swiftformer_mm.demo_data.coco "$DATA"

echo "[demo] training (log: $WORK_DIR/train.log)"
mkdir -p "$WORK_DIR"
set +e
"$PY" tools/train.py "$CONFIG" --work-dir "$WORK_DIR" 2>&1 |
  tee "$WORK_DIR/train.log" | grep --line-buffered -E 'Epoch\(train\)|Error'
status=${PIPESTATUS[0]}
set -e
if [[ $status -ne 0 ]]; then
  tail -30 "$WORK_DIR/train.log" >&2
  echo "[demo] training failed (exit $status), see $WORK_DIR/train.log" >&2
  exit 1
fi
CKPT="$(cat "$WORK_DIR/last_checkpoint")"

echo "[demo] evaluating $CKPT (log: $WORK_DIR/test.log)"
"$PY" tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK_DIR/test" > "$WORK_DIR/test.log" 2>&1 ||
  { tail -30 "$WORK_DIR/test.log" >&2; echo "[demo] evaluation failed" >&2; exit 1; }

echo "[demo] drawing predictions on validation images"
"$PY" demo/det_image_demo.py "$DATA"/val/00000{0,1,2,3}.png "$CONFIG" "$CKPT" \
  --out-dir "$WORK_DIR/predictions" --device cpu

"$PY" - "$WORK_DIR/test.log" "$WORK_DIR/predictions/vis" "$(( $(date +%s) - start ))" <<'PYEOF'
import re, sys
log, vis, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3])
names = ('bbox_mAP', 'bbox_mAP_50', 'segm_mAP', 'segm_mAP_50')
found = dict(re.findall(r'coco/(\w+): ([\d.]+)', open(log).read()))
if not set(names) <= set(found):
    sys.exit(f'[demo] no COCO metrics in {log}')
ap = {k: float(found[k]) * 100 for k in names}
print(f"[demo] val: box AP {ap['bbox_mAP']:.1f} (AP50 {ap['bbox_mAP_50']:.1f}), "
      f"mask AP {ap['segm_mAP']:.1f} (AP50 {ap['segm_mAP_50']:.1f})")
print(f'[demo] pictures of the predictions: {vis}/')
print(f'[demo] done in {seconds // 60} min {seconds % 60} s')
PYEOF
