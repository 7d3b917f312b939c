#!/usr/bin/env bash
# Build the local images the docker runtime runs (no network needed besides a Debian mirror):
#
#   minik8s/busybox:1.35    Debian's busybox-static with its applet links (about 2 MB); also
#                           tagged :latest. The pod sandbox image. Also tagged busybox:latest,
#                           busybox:1.35 and busybox:1.28 (the tag the Kubernetes docs use), so
#                           manifests naming `busybox` run as written without a network.
#   minik8s/python:3.11     Debian's python3.11, its stdlib and shared libraries, plus busybox
#                           for /bin/sh (about 50 MB); also tagged python:3.11 (examples/ use it)
#   nginx:1.22              Debian's nginx (1.22) with the official image's layout: config in
#                           /etc/nginx/conf.d/default.conf (scripts/images/nginx), pages in
#                           /usr/share/nginx/html, logs to stdout/stderr, user nginx, port 80,
#                           `nginx -g 'daemon off;'` (about 10 MB). Also tagged nginx:latest
#                           and nginx:1.14.2 so that the Kubernetes docs' manifests resolve to
#                           it (`minik8s up` serves :latest from its registry mirror, see
#                           cli/registry.py).
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

# Give `image` more names (tags are cheap; an existing tag is moved to it).
tag_as() {
  local image=$1 name
  shift
  for name in "$@"; do docker tag "$image" "$name"; done
}

build_busybox() {
  local tag=minik8s/busybox:1.35 root="$WORK/busybox"
  local names=(minik8s/busybox:latest busybox:latest busybox:1.35 busybox:1.28)
  if have_image "$tag"; then echo "$tag already present"; tag_as "$tag" "${names[@]}"; return; fi
  skeleton "$root"
  add_busybox "$root"
  import_rootfs "$root" "$tag" -c 'ENV PATH=/bin' -c 'CMD ["sh"]'
  tag_as "$tag" "${names[@]}"
}

# Copy `binary` and the shared libraries ldd lists for it (and for `extra` files) into the rootfs.
copy_with_libs() {
  local root=$1 binary=$2 lib
  shift 2
  mkdir -p "$root$(dirname "$binary")"
  cp -L "$binary" "$root$binary"
  for lib in $(ldd "$binary" "$@" 2>/dev/null \
      | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// && $2 ~ /^\(/ {print $1}' | sort -u); do
    copy_lib "$root" "$lib"
  done
}

build_nginx() {
  local tag=nginx:1.22 root="$WORK/nginx" here
  here=$(dirname "$(realpath "$0")")/images/nginx
  if have_image "$tag"; then
    echo "$tag already present"
    tag_as "$tag" nginx:latest nginx:1.14.2
    return
  fi
  [ -x /usr/sbin/nginx ] && dpkg -S /usr/sbin/nginx >/dev/null 2>&1 || apt_install nginx
  skeleton "$root"
  printf 'nginx:x:101:101:nginx:/nonexistent:/bin/false\n' >>"$root/etc/passwd"
  printf 'nginx:x:101:\n' >>"$root/etc/group"
  copy_with_libs "$root" /usr/sbin/nginx
  # name resolution for proxy_pass/resolver: glibc loads these at run time (ldd does not list them)
  for lib in /lib/x86_64-linux-gnu/libnss_dns.so.2 /lib/x86_64-linux-gnu/libnss_files.so.2 \
      /lib/x86_64-linux-gnu/libresolv.so.2; do
    [ -e "$lib" ] && copy_lib "$root" "$lib"
  done
  printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
  mkdir -p "$root"/etc/nginx/conf.d "$root"/usr/share/nginx/html "$root"/var/log/nginx \
    "$root"/var/lib/nginx "$root"/var/cache/nginx "$root"/run
  ln -s /run "$root/var/run"
  cp /etc/nginx/mime.types "$root/etc/nginx/"
  cp "$here/nginx.conf" "$root/etc/nginx/nginx.conf"
  cp "$here/default.conf" "$root/etc/nginx/conf.d/default.conf"
  cp "$here/50x.html" "$root/usr/share/nginx/html/50x.html"
  cat >"$root/usr/share/nginx/html/index.html" <<'HTML'
<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>
</body>
</html>
HTML
  # like the official image: the logs go to the container's stdout and stderr
  ln -s /dev/stdout "$root/var/log/nginx/access.log"
  ln -s /dev/stderr "$root/var/log/nginx/error.log"
  add_busybox "$root"
  import_rootfs "$root" "$tag" -c 'ENV PATH=/usr/sbin:/usr/bin:/bin' -c 'EXPOSE 80' \
    -c 'CMD ["nginx", "-g", "daemon off;"]'
  tag_as "$tag" nginx:latest nginx:1.14.2
}

build_python() {
  local tag=minik8s/python:3.11 root="$WORK/python" py=/usr/bin/python3.11 lib
  if have_image "$tag"; then echo "$tag already present"; tag_as "$tag" python:3.11; return; fi
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
  tag_as "$tag" python:3.11
}

docker info >/dev/null 2>&1 || { echo "dockerd is not answering; run scripts/start-dockerd.sh" >&2; exit 1; }
build_busybox
build_python
build_nginx
