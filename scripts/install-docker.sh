#!/bin/sh
# Install the Docker engine (Debian package docker.io, 20.10) for the docker runtime.
#
# Idempotent: does nothing when `dockerd` is already on PATH. Nothing is left auto-started
# (there is no systemd here, and the node agent's tests start dockerd themselves with
# scripts/start-dockerd.sh): service starts are denied during the install with a temporary
# policy-rc.d (unless one exists already), and a daemon the package still started is stopped.
set -eu

if command -v dockerd >/dev/null 2>&1; then
    echo "docker engine already installed: $(command -v dockerd)"
    exit 0
fi

"$(dirname "$0")/apt-install-no-start.sh" docker.io

# Stop whatever the package started anyway (systemd units or the sysvinit scripts).
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now docker.service docker.socket containerd.service 2>/dev/null || true
fi
for svc in docker containerd; do
    if [ -x "/etc/init.d/$svc" ]; then
        "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
    fi
done

dockerd --version
