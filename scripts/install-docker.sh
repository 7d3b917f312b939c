#!/bin/sh
# Install what Docker nodes need, from Debian packages:
#
#   docker.io        the Docker engine (20.10): the machine's engine and one per node of `minik8s up`
#   docker-registry  the registry (distribution 2.8) `minik8s up` serves images to its nodes from
#   skopeo           copies local images into registries (scripts/push-images.sh)
#   apache2-utils    htpasswd, for registries that require a password
#
# Idempotent: installs only what is missing. Nothing is left auto-started (there is no systemd
# here; `minik8s up`, the tests and scripts/start-dockerd.sh start what they need): service starts
# are denied during the install (scripts/apt-install-no-start.sh), and a daemon the package still
# started is stopped.
set -eu

missing=""
command -v dockerd >/dev/null 2>&1 || missing="$missing docker.io"
command -v docker-registry >/dev/null 2>&1 || missing="$missing docker-registry"
command -v skopeo >/dev/null 2>&1 || missing="$missing skopeo"
command -v htpasswd >/dev/null 2>&1 || missing="$missing apache2-utils"
if [ -z "$missing" ]; then
    echo "docker engine, registry and skopeo already installed: $(command -v dockerd)"
    exit 0
fi

# shellcheck disable=SC2086  # one word per package
"$(dirname "$0")/apt-install-no-start.sh" $missing

# Stop whatever the packages started anyway (systemd units or the sysvinit scripts).
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now docker.service docker.socket containerd.service docker-registry.service \
        2>/dev/null || true
fi
for svc in docker containerd docker-registry; do
    if [ -x "/etc/init.d/$svc" ]; then
        "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
    fi
done

dockerd --version
