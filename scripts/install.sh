#!/usr/bin/env bash
# Install what minik8s needs on a fresh Debian machine (as root) and the package in ./.venv.
# Idempotent: a second run only checks. Used by the README quick start and by CI.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v python3 >/dev/null || need_apt+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
command -v ip >/dev/null || need_apt+=(iproute2)
command -v kubectl >/dev/null || need_apt+=(kubernetes-client)
[ -x /usr/sbin/nginx ] || need_apt+=(nginx)  # the data plane of every node's ingress proxy
[ -x /usr/sbin/nft ] || need_apt+=(nftables)  # the Service proxy programs nftables rules
[ -x /usr/sbin/conntrack ] || need_apt+=(conntrack)  # the Service proxy deletes UDP flows to removed endpoints
command -v fusermount3 >/dev/null || need_apt+=(fuse3)  # the chaos suite's power-loss file system: libfuse3, fusermount3
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "installing the minik8s package and its dependencies into .venv ..."
  if ! .venv/bin/pip install -q -e '.[test]' > .venv/pip.log 2>&1; then
    cat .venv/pip.log
    exit 1
  fi
  rm -f .venv/.installed-* && touch "$stamp"
fi

# nvcc and the CUDA runtime from PyPI, for GpuJobs' builds (a no-op where nvcc already works).
./scripts/install-cuda.sh --quiet
