#!/usr/bin/env bash
# Install nvcc and the CUDA runtime (headers, static cudart) from PyPI, so that a GpuJob's
# `nvcc -O2 -o matmul matmul.cu` builds on any machine, GPU or not (issue 13: nvcc installs from
# PyPI as nvidia-cuda-nvcc, so a Slurm node or a developer machine without a GPU or a driver can
# still compile CUDA programs; the binaries then find no device at run time and say so).
#
# This reproduces how the project's development machines got their /usr/local/bin/nvcc: the NVIDIA
# wheels below installed with `pip install --target`, their CUDA tree (nvidia/cu13: bin, include,
# lib, nvvm) completed with the `targets/x86_64-linux/{include,lib}` and `lib64` links that
# nvcc.profile looks for (without them the link fails: "cannot find -lcudart_static"), and a
# two-line wrapper script on PATH (`exec .../bin/nvcc "$@"`). A wrapper rather than a
# symlink, as there, so nvcc always runs from its own directory and finds nvcc.profile, cicc and
# ptxas beside it.
#
# What is installed (CUDA 13.0, the versions the development machines have):
#   nvidia-cuda-nvcc     nvcc, ptxas, nvlink, fatbinary, cudafe++
#   nvidia-nvvm          cicc and libdevice (nvcc's device front end)
#   nvidia-cuda-crt      crt/ headers (host_config.h, ...)
#   nvidia-cuda-runtime  cuda_runtime.h and libcudart_static.a (nvcc links cudart statically by
#                        default, so the binaries need no libcudart.so; libcuda.so, the driver,
#                        comes with a GPU's driver and is only looked for at run time)
#   nvidia-cuda-cccl     Thrust/CUB/libcu++ headers (nvcc.profile puts them on the include path)
# plus g++ (nvcc's host compiler) and python3-venv (a private pip: Debian 12's own pip refuses to
# install into the system Python, PEP 668) from Debian. About 300 MB on disk, no GPU needed.
#
# Usage (as root): ./scripts/install-cuda.sh [--force] [--quiet]
#   Idempotent: when `nvcc` is on PATH and finds cuda_runtime.h, it only says so (--quiet: not even
#   that; --force installs anyway). Environment:
#     MINIK8S_CUDA_PREFIX  where the wheels go (default /opt/minik8s-cuda); the CUDA tree is
#                          $MINIK8S_CUDA_PREFIX/pkgs/nvidia/cu13
#     MINIK8S_CUDA_BIN     where the nvcc wrapper goes (default /usr/local/bin, on the PATH of login
#                          and non-login shells alike, so also of Slurm batch scripts)
set -euo pipefail

PREFIX=${MINIK8S_CUDA_PREFIX:-/opt/minik8s-cuda}
BIN=${MINIK8S_CUDA_BIN:-/usr/local/bin}
PACKAGES=(
  nvidia-cuda-nvcc==13.0.88
  nvidia-nvvm==13.0.88
  nvidia-cuda-crt==13.0.88
  nvidia-cuda-runtime==13.0.96
  nvidia-cuda-cccl==13.0.85
)
force=0
quiet=0
for arg in "$@"; do
  case $arg in
    --force) force=1 ;;
    --quiet) quiet=1 ;;
    *) echo "usage: $0 [--force] [--quiet]" >&2; exit 2 ;;
  esac
done

# Works already: nvcc runs and its include path has the runtime headers (preprocessing only, ~0.2 s).
nvcc_works() {
  "$1" --version >/dev/null 2>&1 &&
    echo '#include <cuda_runtime.h>' | "$1" -E -x cu - -o /dev/null >/dev/null 2>&1
}
if [ $force = 0 ] && command -v nvcc >/dev/null && nvcc_works nvcc; then
  [ $quiet = 1 ] || echo "nvcc is already installed: $(command -v nvcc) ($(nvcc --version | grep -o 'release [0-9.]*'))"
  exit 0
fi

need_apt=()
command -v g++ >/dev/null || need_apt+=(g++)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

mkdir -p "$PREFIX"
[ -x "$PREFIX/venv/bin/pip" ] || python3 -m venv "$PREFIX/venv"
cuda="$PREFIX/pkgs/nvidia/cu13"
stamp="$PREFIX/.installed-$(echo "${PACKAGES[*]}" | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ] || [ ! -x "$cuda/bin/nvcc" ]; then
  echo "installing ${PACKAGES[*]} into $PREFIX/pkgs (about 300 MB) ..."
  rm -rf "$PREFIX/pkgs"
  "$PREFIX/venv/bin/pip" install -q --disable-pip-version-check --no-compile \
    --target "$PREFIX/pkgs" "${PACKAGES[@]}"
  rm -f "$PREFIX"/.installed-* && touch "$stamp"
fi

# nvcc.profile adds -I$(TOP)/targets/x86_64-linux/include and -L.../lib; the wheels put both at TOP.
mkdir -p "$cuda/targets/x86_64-linux"
ln -sfn ../../include "$cuda/targets/x86_64-linux/include"
ln -sfn ../../lib "$cuda/targets/x86_64-linux/lib"
[ -e "$cuda/lib64" ] || ln -s lib "$cuda/lib64"

mkdir -p "$BIN"
wrapper="#!/bin/sh
exec $cuda/bin/nvcc \"\$@\""
if [ "$(cat "$BIN/nvcc" 2>/dev/null)" != "$wrapper" ]; then
  rm -f "$BIN/nvcc"
  printf '%s\n' "$wrapper" > "$BIN/nvcc"
  chmod 755 "$BIN/nvcc"
fi
# For programs built with `-cudart shared` (nvcc's default is static): find libcudart.so.13.
if [ "$BIN" = /usr/local/bin ] && [ -w /etc/ld.so.conf.d ]; then
  echo "$cuda/lib" > /etc/ld.so.conf.d/zz-minik8s-cuda.conf
  ldconfig
fi

if ! nvcc_works "$BIN/nvcc"; then
  echo "install-cuda: $BIN/nvcc does not work after the install" >&2
  exit 1
fi
echo "nvcc installed: $BIN/nvcc -> $cuda ($("$BIN/nvcc" --version | grep -o 'release [0-9.]*'))"
