#!/usr/bin/env bash
# Install a whole stack into a virtual environment at the repository root.
#
#   bash tools/setup_env.sh              # the newest stack in .venv/ (torch 2.13,
#                                        # ExecuTorch), this package editable
#   STACK=oldest bash tools/setup_env.sh # the oldest supported stack in
#                                        # .venv-oldest/ (torch 2.1, mmcv 2.1.0,
#                                        # numpy 1.26), this package as a wheel
#   RECORD=1 bash tools/setup_env.sh     # also append its time to docs/records/setup.jsonl
#
# Idempotent: seconds when nothing changed (the oldest stack always rebuilds
# and reinstalls this package's wheel, about 20 s, so it runs the code of the
# working tree).
#
# What it does, and why each step is the way it is (see the README's "Installation" section):
#   * torch/torchvision come from the standard PyPI wheels. Some machines point
#     pip (config file or PIP_FIND_LINKS) at a folder holding a CPU-only
#     `torch+cpu` wheel, which pip prefers and with which torchvision (and so
#     timm) fails to import. PIP_FIND_LINKS=" " overrides every config file; an
#     empty string would not (pip ignores empty variables).
#   * mmcv 2.1.0 (the newest that mmdet 3.3 / mmseg 1.2 accept) only exists as
#     source; it is built once with its compiled ops (RoIAlign, nms, ...) and the
#     wheel is cached under ~/.cache/swiftformer_mm keyed by torch version and
#     CUDA flavour, because pip's own cache ignores what it was built against.
#   * Everything is pinned by requirements/constraints.txt (newest) or
#     requirements/constraints-oldest.txt (oldest).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STACK="${STACK:-newest}"
case "$STACK" in
  newest) VENV="${SWIFTFORMER_MM_VENV:-$ROOT/.venv}"
          CONSTRAINTS="$ROOT/requirements/constraints.txt"
          CHECK_IMPORTS="mmcv.ops, mmdet, mmseg, mmpretrain, mmdeploy, openvino, nncf, executorch.runtime, timm, mim, seaborn, swiftformer_mm" ;;
  oldest) VENV="${SWIFTFORMER_MM_VENV:-$ROOT/.venv-oldest}"
          CONSTRAINTS="$ROOT/requirements/constraints-oldest.txt"
          CHECK_IMPORTS="mmcv.ops, mmdet, mmseg, mmpretrain, mmdeploy, openvino, nncf, timm, mim" ;;
  *) echo "[setup] STACK must be newest or oldest, not '$STACK'" >&2; exit 2 ;;
esac
PYTHON_BIN="${PYTHON:-python3}"
export PIP_FIND_LINKS=" "
export PIP_DISABLE_PIP_VERSION_CHECK=1

stamp_of() {
  cat "$CONSTRAINTS" "$ROOT/setup.py" "$ROOT/tools/setup_env.sh" | sha256sum | cut -d' ' -f1
}
STAMP="$(stamp_of)"
STAMP_FILE="$VENV/.swiftformer_mm_stamp"

# This package as a wheel, built from the working tree (in a fresh build/
# folder: setuptools never deletes a stale file there) and installed without
# touching anything else (the oldest stack: as users install it).
build_project_wheel() {
  local dist="$VENV/dist"
  rm -rf "$dist" "$ROOT/build" && mkdir -p "$dist"
  "$VENV/bin/python" -m pip wheel --quiet --no-deps --no-build-isolation \
    "$ROOT" -w "$dist"
  rm -rf "$ROOT/build"
}
install_project_wheel() {
  build_project_wheel
  "$VENV/bin/python" -m pip install --quiet --no-deps --force-reinstall \
    "$VENV"/dist/swiftformer_mm-*.whl
}

if [[ -f "$STAMP_FILE" && "$(cat "$STAMP_FILE")" == "$STAMP" ]] &&
   "$VENV/bin/python" -c "import $CHECK_IMPORTS" 2>/dev/null; then
  if [[ "$STACK" == oldest ]]; then
    install_project_wheel
    "$VENV/bin/python" -c "import swiftformer_mm"
  fi
  echo "[setup] environment in $VENV ($STACK stack) is up to date"
  exit 0
fi

start=$(date +%s)
VENV_EXISTED=true
[[ -x "$VENV/bin/python" ]] || { VENV_EXISTED=false; "$PYTHON_BIN" -m venv "$VENV"; }
PY="$VENV/bin/python"
pip_install() { "$PY" -m pip install --quiet -c "$CONSTRAINTS" "$@"; }

echo "[setup] torch, torchvision and build tools"
pip_install --upgrade pip
pip_install torch torchvision "setuptools<82" wheel ninja
# A `+cpu` build left by an earlier install satisfies `torch==X` too: replace it.
if [[ "$("$PY" -c 'import torch; print(torch.__version__)')" == *+cpu ]]; then
  pip_install --force-reinstall --no-deps torch torchvision
fi

# mmcv with compiled ops, built once per (torch version, CUDA flavour).
TORCH_TAG="$("$PY" -c 'import torch; print(torch.__version__.replace("+", "_"))')"
if "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  FLAVOUR="cuda$("$PY" -c 'import torch; print(torch.version.cuda)')"; FORCE_CUDA=1
else
  FLAVOUR="cpu"; FORCE_CUDA=0
fi
WHEEL_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/swiftformer_mm/mmcv-2.1.0-torch$TORCH_TAG-$FLAVOUR"
MMCV_BUILT=false
if ! ls "$WHEEL_DIR"/mmcv-2.1.0-*.whl >/dev/null 2>&1; then
  MMCV_BUILT=true
  echo "[setup] building mmcv 2.1.0 with ops for torch $TORCH_TAG ($FLAVOUR); about 6 min on 2 cores"
  mkdir -p "$WHEEL_DIR"
  tmp="$(mktemp -d)"
  # -O3 without -g: the default flags give 1.5x slower ops and a 32 MB wheel.
  MMCV_WITH_OPS=1 FORCE_CUDA=$FORCE_CUDA MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
    CFLAGS="-O3 -DNDEBUG -fwrapv" CXXFLAGS="-O3 -DNDEBUG -fwrapv" \
    "$PY" -m pip wheel --quiet --no-build-isolation --no-deps --no-cache-dir \
      -c "$CONSTRAINTS" mmcv==2.1.0 -w "$tmp"
  mv "$tmp"/mmcv-2.1.0-*.whl "$WHEEL_DIR"/   # atomic within one filesystem
  rm -rf "$tmp"
fi
pip_install --no-deps "$WHEEL_DIR"/mmcv-2.1.0-*.whl
pip_install "$WHEEL_DIR"/mmcv-2.1.0-*.whl   # its pure-python requirements

if [[ "$STACK" == newest ]]; then
  echo "[setup] OpenMMLab, timm and swiftformer_mm (editable, with test extras)"
  pip_install -e "$ROOT[tests]"
else
  # As in a user's environment: the OpenMMLab stack first, then this
  # package's wheel, which must change neither torch nor mmcv (pip's own
  # dry run says what it would install; tests/test_wheel.py reads it).
  echo "[setup] OpenMMLab (as a user's environment has it)"
  pip_install mmengine mmdet mmsegmentation mmpretrain numpy
  echo "[setup] swiftformer_mm as a wheel: what pip would install"
  build_project_wheel
  "$PY" -m pip install --dry-run --quiet --report "$VENV/dry-run.json" \
    "$VENV"/dist/swiftformer_mm-*.whl
  "$PY" - "$VENV/dry-run.json" <<'PYEOF'
import json, sys
would = [f"{i['metadata']['name']} {i['metadata']['version']}"
         for i in json.load(open(sys.argv[1]))['install']]
print('[setup] pip install swiftformer_mm would install:', ', '.join(would))
changed = [w for w in would if w.split()[0].lower() in
           ('torch', 'torchvision', 'mmcv', 'numpy', 'mmengine', 'mmdet',
            'mmsegmentation', 'mmpretrain')]
sys.exit(f'[setup] installing swiftformer_mm would change {changed}: '
         "fix setup.py's install_requires" if changed else 0)
PYEOF
  pip_install "$(ls "$VENV"/dist/swiftformer_mm-*.whl)[tests]"
  # the same version may be installed already: this tree's files replace it
  "$PY" -m pip install --quiet --no-deps --force-reinstall \
    "$VENV"/dist/swiftformer_mm-*.whl
fi

# Deployment: mmdeploy without its declared dependencies, which pin
# protobuf<=3.20.2 and so would downgrade onnx and break onnxruntime (it needs
# protobuf>=4.25.8); the Python package needs neither pin (it never imports
# protobuf). What it uses is installed here; see swiftformer_mm/export/.
echo "[setup] mmdeploy, OpenVINO"
pip_install --no-deps mmdeploy
pip_install aenum openvino openvino-telemetry

# mim (`mim train/test/run mmdet|mmseg ...` runs those libraries' own tools
# on our configs): without its dependency opendatalab, whose pins would
# downgrade setuptools (mim imports pkg_resources) and others; what mim and
# mmdet's analysis tools import is installed here.
echo "[setup] openmim"
pip_install --no-deps openmim
pip_install tabulate pandas seaborn "click<9.1"

# INT8 and on-device (swiftformer_mm/export/quantize.py, executorch.py): NNCF
# with its dependencies; ExecuTorch and torchao without theirs: executorch
# declares coremltools, hydra, pytorch-tokenizers, test tools, ... for its
# LLM and CoreML paths, while exporting to XNNPACK and running a .pte needs
# only flatbuffers and ruamel.yaml (plus sympy, pandas, ... that are here).
echo "[setup] NNCF"
pip_install nncf
if [[ "$STACK" == newest ]]; then  # ExecuTorch 1.5 is built against torch 2.13
  echo "[setup] ExecuTorch"
  pip_install --no-deps executorch torchao
  pip_install flatbuffers ruamel.yaml
fi

"$PY" -c "import mmcv.ops, mmdet, mmseg, mmpretrain, timm, swiftformer_mm; print('[setup] ok: torch', __import__('torch').__version__, 'mmcv', mmcv.__version__, 'mmdet', mmdet.__version__, 'mmseg', mmseg.__version__, 'mmpretrain', mmpretrain.__version__)"
echo "$STAMP" > "$STAMP_FILE"
echo "[setup] done in $(( $(date +%s) - start )) s"
if [[ "${RECORD:-0}" == 1 ]]; then
  "$PY" -m swiftformer_mm.analysis.records setup \
    "stack=$STACK" "venv_existed=$VENV_EXISTED" "mmcv_built=$MMCV_BUILT" \
    --figure "seconds=$(( $(date +%s) - start ))" \
    --command "$([[ $STACK == oldest ]] && echo 'STACK=oldest ')RECORD=1 bash tools/setup_env.sh"
fi
