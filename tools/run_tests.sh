#!/usr/bin/env bash
# Set up the environment (seconds when it is already there), then run the
# whole test suite. Extra arguments go to pytest, e.g. `-k parity -s`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/tools/setup_env.sh"
cd "$ROOT"
# One pytest worker per core (pytest-xdist), each file on one worker so that
# a file's shared fixtures are built once; tests/conftest.py gives each
# worker its share of the cores. PYTEST_WORKERS=0 runs in this process.
exec "$ROOT/.venv/bin/python" -m pytest -n "${PYTEST_WORKERS:-$(nproc)}" \
  --dist loadfile "$@"
