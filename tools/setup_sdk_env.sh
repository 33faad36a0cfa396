#!/usr/bin/env bash
# The torch-free venv .venv-sdk/ in which tests/test_sdk.py runs deployed
# models as users' hosts do: mmdeploy's SDK (mmdeploy-runtime 1.3.1) and a
# plain ONNX Runtime + numpy + OpenCV host. Pinned by
# requirements/constraints-sdk.txt; seconds when it is already there.
#
#   bash tools/setup_sdk_env.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SWIFTFORMER_MM_SDK_VENV:-$ROOT/.venv-sdk}"
REQS="$ROOT/requirements/constraints-sdk.txt"
STAMP="$(cat "$REQS" "$ROOT/tools/setup_sdk_env.sh" | sha256sum | cut -d' ' -f1)"
if [[ -f "$VENV/.stamp" && "$(cat "$VENV/.stamp")" == "$STAMP" ]]; then
  echo "[setup-sdk] $VENV is up to date"
  exit 0
fi
export PIP_FIND_LINKS=" " PIP_DISABLE_PIP_VERSION_CHECK=1
[[ -x "$VENV/bin/python" ]] || "${PYTHON:-python3}" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet -r "$REQS"
"$VENV/bin/python" -c "import mmdeploy_runtime, onnxruntime, cv2, numpy; print('[setup-sdk] ok: mmdeploy_runtime', mmdeploy_runtime.__version__, 'onnxruntime', onnxruntime.__version__)" 2>&1 | grep -v '^loading '
echo "$STAMP" > "$VENV/.stamp"
