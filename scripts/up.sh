#!/usr/bin/env bash
# Install what is needed, then start the embedded default cluster in the foreground (Ctrl-C stops it).
# Extra arguments go to `minik8s up` (e.g. --masters 3 --nodes 3 --data-dir /tmp/cluster).
#
# Docker nodes are the default: this installs Docker, the registry and skopeo
# (scripts/install-docker.sh), starts the machine's dockerd (scripts/start-dockerd.sh) and builds the
# local images (scripts/build-images.sh), like the docker tests do; `minik8s up` then gives every node
# a dockerd of its own. Where that fails (no Debian mirror, no root) the cluster runs the process
# runtime; `--runtime process` asks for it.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh
if [[ " $* " != *" --runtime process "* ]]; then
  if ./scripts/install-docker.sh && ./scripts/start-dockerd.sh >/dev/null && ./scripts/build-images.sh; then
    :
  else
    echo "Docker is not available here: the cluster uses the process runtime" >&2
  fi
fi
exec .venv/bin/minik8s up "$@"
