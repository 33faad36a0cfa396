#!/usr/bin/env bash
# Semantic segmentation demo on a CPU, end to end, nothing downloaded:
#   1. set up .venv/ (seconds when it is already there);
#   2. pretrain the SwiftFormer-XS classifier (tools/run_cls_demo.sh) unless
#      checkpoints/swiftformer_xs_demo_cls.pth is there;
#   3. generate the ADE20K-format demo dataset
#      (python -m swiftformer_mm.demo_data.ade);
#   4. train Semantic FPN + SwiftFormer-XS twice on the same schedule, side by
#      side (one core each): from the classifier's weights through the
#      backbone's init_cfg, and from scratch
#      (configs/segmentation/semantic_fpn_swiftformer_xs_demo.py);
#   5. evaluate both with tools/test.py and print their mIoU beside the
#      chance level;
#   6. draw validation images with the ground truth and the pretrained
#      model's prediction side by side, and a class legend (OUT).
#
#   bash tools/run_seg_demo.sh             # SEED=1 bash tools/run_seg_demo.sh, ...
#
# Environment: SEED (default 0), DATA_DIR (default data/ade_demo), WORK_DIR
# (default work_dirs/semantic_fpn_swiftformer_xs_demo), OUT (default
# outputs/seg_demo.png), OMP_NUM_THREADS (default 1 per training), RECORD=1
# (append the figures and the conditions to docs/records/demo.jsonl).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
start=$(date +%s)
bash tools/setup_env.sh

PY="$ROOT/.venv/bin/python"
CONFIG=configs/segmentation/semantic_fpn_swiftformer_xs_demo.py
PRETRAINED=checkpoints/swiftformer_xs_demo_cls.pth
DATA_DIR="${DATA_DIR:-data/ade_demo}"
SEED="${SEED:-0}"
WORK_DIR="${WORK_DIR:-work_dirs/semantic_fpn_swiftformer_xs_demo}"
[[ "$SEED" == 0 ]] || WORK_DIR="${WORK_DIR}_seed$SEED"
OUT="${OUT:-outputs/seg_demo.png}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
export PYTHONWARNINGS="${PYTHONWARNINGS:-ignore}"
DATA_OPTIONS=(
  "train_dataloader.dataset.dataset.data_root=$DATA_DIR"
  "val_dataloader.dataset.data_root=$DATA_DIR"
  "test_dataloader.dataset.data_root=$DATA_DIR"
)

if [[ ! -f "$PRETRAINED" ]]; then
  echo "== pretraining the classifier ($PRETRAINED)"
  bash tools/run_cls_demo.sh
fi

echo "== generating the demo dataset in $DATA_DIR"
"$PY" -m swiftformer_mm.demo_data.ade "$DATA_DIR"

run() {  # NAME [cfg-options...]: train, then test, in the background
  local name=$1; shift
  local dir="$WORK_DIR/$name"
  mkdir -p "$dir"
  ( "$PY" tools/train.py "$CONFIG" --work-dir "$dir" --cfg-options \
      "${DATA_OPTIONS[@]}" randomness.seed="$SEED" "$@" > "$dir/train.log" 2>&1 &&
    "$PY" tools/test.py "$CONFIG" "$(cat "$dir/last_checkpoint")" \
      --work-dir "$dir/test" --cfg-options "${DATA_OPTIONS[@]}" \
      > "$dir/test.log" 2>&1 ) &
}
echo "== training from $PRETRAINED and from scratch, side by side" \
  "(logs: $WORK_DIR/{pretrained,scratch}/train.log)"
run pretrained
run scratch model.backbone.init_cfg=None
failed=0
for job in $(jobs -p); do wait "$job" || failed=1; done
for name in pretrained scratch; do
  if ! grep -q 'mIoU: ' "$WORK_DIR/$name/test.log" 2>/dev/null; then
    tail -30 "$WORK_DIR/$name/train.log" "$WORK_DIR/$name/test.log" >&2 || true
    echo "== the $name run failed, see $WORK_DIR/$name/" >&2
    failed=1
  fi
done
[[ $failed == 0 ]] || exit 1

echo "== pictures of the predictions"
"$PY" tools/analysis_tools/show_predictions.py "$CONFIG" \
  "$(cat "$WORK_DIR/pretrained/last_checkpoint")" --out "$OUT" --num 3 \
  --scale 3 --cfg-options "${DATA_OPTIONS[@]}" > /dev/null

"$PY" - "$WORK_DIR" "$DATA_DIR/demo_meta.json" "$OUT" "$start" "$SEED" <<'PYEOF'
import json, os, re, sys, time
from swiftformer_mm.analysis import records
work, meta, out, start, seed = sys.argv[1], sys.argv[2], sys.argv[3], int(
    sys.argv[4]), int(sys.argv[5])
miou = {run: float(re.findall(r'mIoU: ([\d.]+)', open(
    f'{work}/{run}/test.log').read())[-1]) for run in ('pretrained', 'scratch')}
loaded = [line.split(' - INFO - ')[-1].strip() for line in
          open(f'{work}/pretrained/train.log') if 'tensors from' in line]
chance = json.load(open(meta))['val_chance_miou']
print('== ' + (loaded[0] if loaded else 'NO PRETRAINED WEIGHTS LOADED'))
print('\n| Semantic FPN XS, demo val | mIoU |\n|---|---|')
print(f"| from scratch | {miou['scratch']:.2f} |")
print(f"| from the pretrained classifier | {miou['pretrained']:.2f} |")
print(f"| chance (uniform / majority class) | {chance['uniform']:.2f} / "
      f"{chance['majority']:.2f} |")
print(f"\n== pretraining: {miou['pretrained'] - miou['scratch']:+.2f} mIoU")
print(f'== picture (ground truth | prediction, legend): {out}')
seconds = int(time.time()) - start
print(f'== done in {seconds // 60} min {seconds % 60} s')
print(f'== CPU: {records.cpu_model()} ({records.cpu_int8_class()}). Runs on '
      'one kind of CPU give bit-identical results; other kinds use other '
      'float kernels and give other (similar) figures: see the README.')
if os.environ.get('RECORD') == '1':
    records.append('demo', dict(demo='segmentation', seed=seed), dict(
        miou={r: round(v, 2) for r, v in miou.items()},
        seconds=dict(total=seconds)),
        command=f'SEED={seed} bash tools/run_seg_demo.sh',
        threads=int(os.environ.get('OMP_NUM_THREADS', '1')))
PYEOF
