#!/usr/bin/env bash
# The whole test suite: install what is needed, then run unit and integration tests.
# Tests start their own masters on loopback and stop them by pid.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh
exec .venv/bin/python -m pytest tests -q -p no:cacheprovider "$@"
