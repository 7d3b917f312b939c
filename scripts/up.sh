#!/usr/bin/env bash
# Install what is needed, then start the embedded default cluster in the foreground (Ctrl-C stops it).
# Extra arguments go to `minik8s up` (e.g. --masters 3 --data-dir /tmp/cluster).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh
exec .venv/bin/minik8s up "$@"
