#!/usr/bin/env bash
# The main job, end to end on a CPU, nothing downloaded: pretrained weights
# loaded at init, and what they are worth.
#   1. set up .venv/ (seconds when it is already there);
#   2. pretrain a SwiftFormer-XS classifier with mmpretrain on the generated
#      classification set (tools/run_cls_demo.sh), the stand-in for ImageNet,
#      and put it where the detection config's init_cfg reads it
#      (checkpoints/swiftformer_xs_demo_cls.pth); skipped when it is there;
#   3. generate a small COCO-format shapes dataset (data/demo_coco);
#   4. train Mask R-CNN + FPN with that backbone twice on the same schedule,
#      side by side (one core each): from the classifier's weights, through
#      init_cfg=dict(type='Pretrained', ...) as a real ImageNet file would be
#      loaded, and from scratch (init_cfg=None);
#   5. evaluate both (tools/test.py: COCO box and mask AP) and print them side
#      by side, with the log line that says what was loaded;
#   6. draw the pretrained model's predictions beside the ground truth
#      (outputs/det_demo.png).
#
#   bash tools/run_demo.sh                 # SEED=1 bash tools/run_demo.sh, ...
#
# Environment: SEED (default 0; seeds the detection training, not the
# classifier's), WORK_DIR (default work_dirs/mask_rcnn_swiftformer_xs_demo),
# OUT (default outputs/det_demo.png), RECORD=1 (append the figures and the
# conditions to docs/records/demo.jsonl, from which the README's table is made).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
start=$(date +%s)

bash tools/setup_env.sh
setup_end=$(date +%s)
PY="$ROOT/.venv/bin/python"
export PYTHONWARNINGS="${PYTHONWARNINGS:-ignore}"
# One compute thread per process: the two trainings share the two cores.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

CONFIG=configs/detection/mask_rcnn_swiftformer_xs_demo.py
PRETRAINED=checkpoints/swiftformer_xs_demo_cls.pth
DATA=data/demo_coco
SEED="${SEED:-0}"
WORK_DIR="${WORK_DIR:-work_dirs/mask_rcnn_swiftformer_xs_demo}"
[[ "$SEED" == 0 ]] || WORK_DIR="${WORK_DIR}_seed$SEED"
OUT="${OUT:-outputs/det_demo.png}"

if [[ ! -f "$PRETRAINED" ]]; then
  echo "[demo] pretraining the classifier ($PRETRAINED)"
  bash tools/run_cls_demo.sh
fi
pretrain_end=$(date +%s)

echo "[demo] generating the dataset in $DATA"
"$PY" -m swiftformer_mm.demo_data.coco "$DATA"

# run NAME [cfg-options...]: train, then test, in the background
run() {
  local name=$1; shift
  local dir="$WORK_DIR/$name"
  mkdir -p "$dir"
  ( "$PY" tools/train.py "$CONFIG" --work-dir "$dir" \
      --cfg-options randomness.seed="$SEED" "$@" > "$dir/train.log" 2>&1 &&
    "$PY" tools/test.py "$CONFIG" "$(cat "$dir/last_checkpoint")" \
      --work-dir "$dir/test" > "$dir/test.log" 2>&1 ) &
}
echo "[demo] training from $PRETRAINED and from scratch, side by side" \
  "(logs: $WORK_DIR/{pretrained,scratch}/train.log)"
run pretrained
run scratch model.backbone.init_cfg=None
failed=0
for job in $(jobs -p); do wait "$job" || failed=1; done
for name in pretrained scratch; do
  if ! grep -q 'coco/segm_mAP' "$WORK_DIR/$name/test.log" 2>/dev/null; then
    tail -30 "$WORK_DIR/$name/train.log" "$WORK_DIR/$name/test.log" >&2 || true
    echo "[demo] the $name run failed, see $WORK_DIR/$name/" >&2
    failed=1
  fi
done
[[ $failed == 0 ]] || exit 1
train_end=$(date +%s)

echo "[demo] drawing predictions beside the ground truth"
"$PY" tools/analysis_tools/show_predictions.py "$CONFIG" \
  "$(cat "$WORK_DIR/pretrained/last_checkpoint")" --out "$OUT" --num 4 \
  --scale 2 > /dev/null

"$PY" - "$WORK_DIR" "$OUT" "$SEED" "$start" "$setup_end" "$pretrain_end" \
  "$train_end" <<'PYEOF'
import os, re, sys, time
from swiftformer_mm.analysis import records
work, out, seed = sys.argv[1:4]
start, setup_end, pretrain_end, train_end = map(int, sys.argv[4:])
names = ('bbox_mAP', 'bbox_mAP_50', 'segm_mAP', 'segm_mAP_50')
ap = {}
for run in ('pretrained', 'scratch'):
    found = dict(re.findall(r'coco/(\w+): ([\d.]+)',
                            open(f'{work}/{run}/test.log').read()))
    ap[run] = {k: float(found[k]) * 100 for k in names}
loaded = [line.split(' - INFO - ')[-1].strip() for line in
          open(f'{work}/pretrained/train.log') if 'tensors from' in line]
print('[demo] ' + (loaded[0] if loaded else 'NO PRETRAINED WEIGHTS LOADED'))
print('\n| Mask R-CNN XS, demo val | box AP | AP50 | mask AP | AP50 |')
print('|---|---|---|---|---|')
for run, label in (('scratch', 'from scratch'),
                   ('pretrained', 'from the pretrained classifier')):
    a = ap[run]
    print(f"| {label} | {a['bbox_mAP']:.1f} | {a['bbox_mAP_50']:.1f} | "
          f"{a['segm_mAP']:.1f} | {a['segm_mAP_50']:.1f} |")
gain = {k: ap['pretrained'][k] - ap['scratch'][k] for k in names}
print(f"\n[demo] pretraining: {gain['bbox_mAP']:+.1f} box AP, "
      f"{gain['segm_mAP']:+.1f} mask AP")
print(f'[demo] pictures (ground truth | prediction): {out}')
now = int(time.time())
print(f'[demo] done in {(now - start) // 60} min {(now - start) % 60} s '
      f'(set-up {setup_end - start} s, pretraining {pretrain_end - setup_end} '
      f's, detection training and testing {train_end - pretrain_end} s)')
print(f'[demo] CPU: {records.cpu_model()} ({records.cpu_int8_class()}). '
      'Runs on one kind of CPU give bit-identical results; other kinds use '
      'other float kernels and give other (similar) figures: see the README.')
if os.environ.get('RECORD') == '1':
    records.append('demo', dict(demo='detection', seed=int(seed)), dict(
        box_ap={r: round(a['bbox_mAP'], 1) for r, a in ap.items()},
        mask_ap={r: round(a['segm_mAP'], 1) for r, a in ap.items()},
        seconds=dict(total=now - start, setup=setup_end - start,
                     pretraining=pretrain_end - setup_end,
                     training_and_testing=train_end - pretrain_end)),
        command=f'SEED={seed} bash tools/run_demo.sh',
        threads=int(os.environ.get('OMP_NUM_THREADS', '1')))
PYEOF
