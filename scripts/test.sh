#!/usr/bin/env bash
# The test suite: install what is needed, then run unit and integration tests.
# Tests start their own masters on loopback and stop them by pid.
#   ./scripts/test.sh            the CI suite: everything but the long scenarios (@pytest.mark.slow)
#   ./scripts/test.sh --slow     everything, the long scenarios included
# Further arguments go to pytest (e.g. ./scripts/test.sh tests/unit -x).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh
marker=(-m "not slow")
if [ "${1:-}" = "--slow" ]; then
  marker=()
  shift
fi
exec .venv/bin/python -m pytest tests -q -p no:cacheprovider --durations=25 "${marker[@]}" "$@"
