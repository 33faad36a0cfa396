#!/usr/bin/env bash
# Set up the environment (seconds when it is already there), then run the
# whole test suite. Extra arguments go to pytest, e.g. `-k parity -s`.
#
#   bash tools/run_tests.sh            # everything (what CI runs)
#   bash tools/run_tests.sh --fast     # the development lane: no test marked
#                                      # slow (whole trainings, exports of
#                                      # every family, subprocess tools)
#   bash tools/run_tests.sh --oldest   # the oldest supported stack (torch 2.1,
#                                      # mmcv 2.1.0, numpy 1.26) in
#                                      # .venv-oldest/, this package installed
#                                      # there as a wheel: the fast lane plus
#                                      # the tests marked `stacks` (deployment
#                                      # families, resume, DDP, entry points)
#   RECORD=1 bash tools/run_tests.sh   # also append the suite's time and
#                                      # counts to docs/records/suite.jsonl
#                                      # (and the set-up's, where it set up)
#                                      # and regenerate the tables that show
#                                      # them: commit records and tables
#   RECORD_PARITY=1 bash tools/run_tests.sh -k deploy_families
#                                      # record each deployed-vs-library
#                                      # comparison (docs/records/parity.jsonl)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# One pytest worker per core (pytest-xdist), each file on one worker so that
# a file's shared fixtures are built once; tests/conftest.py gives each
# worker its share of the cores. PYTEST_WORKERS=0 runs in this process.
WORKERS="${PYTEST_WORKERS:-$(nproc)}"
LANE="everything"
SELECT=()
STACK=newest
PY="$ROOT/.venv/bin/python"
if [[ "${1:-}" == "--fast" ]]; then
  shift
  LANE="fast"
  SELECT=(-m "not slow")
elif [[ "${1:-}" == "--oldest" ]]; then
  shift
  LANE="oldest"
  SELECT=(-m "not slow or stacks")
  STACK=oldest
  PY="$ROOT/.venv-oldest/bin/python"
  # the tests use the installed wheel, not the tree (tests/conftest.py):
  # PYTHONSAFEPATH keeps the working directory (the repository) off every
  # Python's sys.path, the workers' and the tools' too
  export SWIFTFORMER_MM_TEST_INSTALLED=1 PYTHONSAFEPATH=1
fi
STACK=$STACK bash "$ROOT/tools/setup_env.sh"
# The docs' tables are made from the records (tests/test_docs.py checks it):
# after a run appends records, they are regenerated, so that the next run's
# check sees tables and records that agree. Repository tooling: the script's
# folder must be on sys.path, which PYTHONSAFEPATH would take away.
regenerate_tables() {
  env -u PYTHONSAFEPATH "$PY" "$ROOT/.dev_scripts/docs_tables.py" ||
    echo "[record] tables not regenerated: see above"
}
[[ "${RECORD:-0}" == 1 ]] && regenerate_tables  # the set-up's record
# mmdeploy's SDK and a torch-free host, for tests/test_sdk.py (slow tests)
[[ "$LANE" == everything ]] && bash "$ROOT/tools/setup_sdk_env.sh"
if [[ "${RECORD:-0}" != 1 ]]; then
  exec "$PY" -m pytest -n "$WORKERS" --dist loadfile "${SELECT[@]}" "$@"
fi
report="$(mktemp -d)/junit.xml"
start=$(date +%s)
status=0
"$PY" -m pytest -n "$WORKERS" --dist loadfile "${SELECT[@]}" --junitxml="$report" "$@" || status=$?
seconds=$(( $(date +%s) - start ))
counts="$("$PY" - "$report" <<'PYEOF'
import sys, xml.etree.ElementTree as ET
s = ET.parse(sys.argv[1]).getroot()
s = s if s.tag == 'testsuite' else s.find('testsuite')
n = {k: int(s.get(k, 0)) for k in ('tests', 'failures', 'errors', 'skipped')}
print(f"passed={n['tests'] - n['failures'] - n['errors'] - n['skipped']} "
      f"failed={n['failures'] + n['errors']} skipped={n['skipped']}")
PYEOF
)"
# shellcheck disable=SC2086
"$PY" -m swiftformer_mm.analysis.records suite "lane=$LANE" "args=$*" \
  "workers=$WORKERS" "stack=$STACK" "torch=$("$PY" -c 'import torch; print(torch.__version__)')" \
  --figure seconds=$seconds $counts \
  --command "RECORD=1 bash tools/run_tests.sh$([[ $LANE != everything ]] && echo " --$LANE") $*"
regenerate_tables
exit $status
