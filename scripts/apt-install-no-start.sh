#!/bin/sh
# Install Debian packages without letting them start their services (the project starts its own).
#
# Usage: scripts/apt-install-no-start.sh PACKAGE...
# Service starts are denied during the install with a temporary policy-rc.d (unless one exists
# already); `apt-get update` runs first only when a package is not known yet.
set -eu

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
for package in "$@"; do
    if ! apt-cache show "$package" >/dev/null 2>&1; then
        apt-get update -qq
        break
    fi
done
apt-get install -y -qq --no-install-recommends "$@" >/dev/null
