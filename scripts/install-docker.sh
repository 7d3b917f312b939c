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

POLICY=/usr/sbin/policy-rc.d
OWN_POLICY=0
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$POLICY"
    chmod 755 "$POLICY"
    OWN_POLICY=1
fi
cleanup() {
    if [ "$OWN_POLICY" = 1 ]; then
        rm -f "$POLICY"
    fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
if ! apt-cache show docker.io >/dev/null 2>&1; then
    apt-get update -qq
fi
apt-get install -y -qq --no-install-recommends docker.io >/dev/null

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
