#!/usr/bin/env bash
# Set up the environment (seconds when it is already there), then run the
# whole test suite. Extra arguments go to pytest, e.g. `-k parity -s`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/tools/setup_env.sh"
cd "$ROOT"
exec "$ROOT/.venv/bin/python" -m pytest "$@"
