#!/usr/bin/env bash
# Build the local images the docker runtime runs (there is no registry here):
#
#   minik8s/busybox:latest  Debian's busybox-static with its applet links (about 2 MB)
#   minik8s/python:3.11     Debian's python3.11, its stdlib and shared libraries, plus busybox
#                           for /bin/sh (about 50 MB)
#
# Both are plain root filesystems fed to `docker import`, so building needs no network besides
# apt for busybox-static / python3.11 when they are missing. Idempotent: an image that already
# exists is skipped (FORCE=1 rebuilds). Needs a running dockerd (scripts/start-dockerd.sh).
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
WORK=$(mktemp -d /tmp/minik8s-images.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

have_image() {
  [ "${FORCE:-0}" != 1 ] && docker image inspect "$1" >/dev/null 2>&1
}

apt_install() {
  if ! apt-cache show "$@" >/dev/null 2>&1; then
    apt-get update -qq
  fi
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Common skeleton: usr-merged dirs, root user, world-writable /tmp.
skeleton() {
  local root=$1
  mkdir -p "$root"/usr/{bin,lib,lib64} "$root"/{etc,tmp,root,proc,sys,dev}
  ln -s usr/bin "$root/bin"
  ln -s usr/bin "$root/sbin"
  ln -s usr/lib "$root/lib"
  ln -s usr/lib64 "$root/lib64"
  chmod 1777 "$root/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
    >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
}

# busybox-static and a link per applet (never overwriting a file already there).
add_busybox() {
  local root=$1 applet
  command -v busybox >/dev/null 2>&1 && busybox --list >/dev/null 2>&1 || apt_install busybox-static
  cp "$(command -v busybox)" "$root/usr/bin/busybox"
  for applet in $(busybox --list); do
    [ -e "$root/usr/bin/$applet" ] || ln -s busybox "$root/usr/bin/$applet"
  done
}

# Copy a shared library to the same path in the rootfs (dereferenced, directory resolved).
copy_lib() {
  local root=$1 lib=$2 dir
  dir=$(realpath "$(dirname "$lib")")
  mkdir -p "$root$dir"
  [ -e "$root$dir/$(basename "$lib")" ] || cp -L "$lib" "$root$dir/"
}

import_rootfs() {
  local root=$1 tag=$2
  shift 2
  tar -C "$root" --numeric-owner -cf - . | docker import "$@" - "$tag" >/dev/null
  echo "built $tag ($(docker image inspect -f '{{.Size}}' "$tag") bytes)"
}

build_busybox() {
  local tag=minik8s/busybox:latest root="$WORK/busybox"
  if have_image "$tag"; then echo "$tag already present"; return; fi
  skeleton "$root"
  add_busybox "$root"
  import_rootfs "$root" "$tag" -c 'ENV PATH=/bin' -c 'CMD ["sh"]'
}

build_python() {
  local tag=minik8s/python:3.11 root="$WORK/python" py=/usr/bin/python3.11 lib
  if have_image "$tag"; then echo "$tag already present"; return; fi
  # Only Debian's interpreter: its libraries are the host's, which we copy (not pyenv's).
  dpkg -S "$py" >/dev/null 2>&1 && dpkg -s libpython3.11-stdlib >/dev/null 2>&1 \
    || apt_install python3.11
  skeleton "$root"
  cp "$py" "$root/usr/bin/python3.11"
  ln -s python3.11 "$root/usr/bin/python3"
  ln -s python3.11 "$root/usr/bin/python"
  tar -C / --exclude='usr/lib/python3.11/config-*' --exclude='usr/lib/python3.11/idlelib' \
    --exclude='usr/lib/python3.11/tkinter' --exclude='usr/lib/python3.11/turtledemo' \
    --exclude='usr/lib/python3.11/ensurepip' --exclude='usr/lib/python3.11/lib2to3' \
    -cf - usr/lib/python3.11 | tar -C "$root" -xf -
  # ldd lines: "libz.so.1 => /lib/.../libz.so.1 (0x..)" and "/lib64/ld-linux-x86-64.so.2 (0x..)".
  for lib in $(ldd "$py" /usr/lib/python3.11/lib-dynload/*.so 2>/dev/null \
      | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// && $2 ~ /^\(/ {print $1}' | sort -u); do
    copy_lib "$root" "$lib"
  done
  add_busybox "$root"
  import_rootfs "$root" "$tag" -c 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
    -c 'ENV LANG=C.UTF-8' -c 'CMD ["python3"]'
}

docker info >/dev/null 2>&1 || { echo "dockerd is not answering; run scripts/start-dockerd.sh" >&2; exit 1; }
build_busybox
build_python
