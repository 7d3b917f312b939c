#!/bin/sh
# Install etcd (Debian package etcd-server, 3.4) for the side-by-side benchmarks in bench/.
#
# Idempotent: does nothing when `etcd` is already on PATH. The package's own daemon must
# never keep running: the benchmarks start their own members on loopback. Service starts
# are denied during the install with a temporary policy-rc.d (unless one exists already),
# and any daemon the package still started (the Debian one runs as user "etcd") is stopped.
set -eu

if command -v etcd >/dev/null 2>&1; then
    echo "etcd already installed: $(command -v etcd)"
    exit 0
fi

"$(dirname "$0")/apt-install-no-start.sh" etcd-server

# Stop the packaged daemon if something started it anyway (systemd or the init script).
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl stop etcd.service 2>/dev/null || true
    systemctl disable etcd.service 2>/dev/null || true
fi
if [ -x /etc/init.d/etcd ]; then
    /etc/init.d/etcd stop >/dev/null 2>&1 || true
fi
for pid in $(pgrep -u etcd -x etcd 2>/dev/null || true); do
    echo "stopping packaged etcd daemon (pid $pid)"
    kill "$pid" 2>/dev/null || true
done

etcd --version | head -n 1
