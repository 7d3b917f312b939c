#!/usr/bin/env bash
# Push images from this machine's Docker engine into a registry (with skopeo, so a plain-HTTP
# registry on any address works, not only one on loopback):
#
#   scripts/push-images.sh REGISTRY                   the local images scripts/build-images.sh makes
#   scripts/push-images.sh REGISTRY IMAGE[=NAME]...   these images; NAME is repository:tag in the registry
#
# REGISTRY is host:port. Without =NAME an image keeps its Docker Hub name, so the registry can
# serve as a Docker Hub mirror: nginx:latest -> REGISTRY/library/nginx:latest, minik8s/busybox:1.35
# -> REGISTRY/minik8s/busybox:1.35. A registry that requires a password: REGISTRY_USER and
# REGISTRY_PASSWORD in the environment (they go to skopeo in a 0600 file, never on a command line).
# An image the registry already holds with the same image id is skipped; a second name of an image
# pushed in this run is copied inside the registry. Needs skopeo (scripts/install-docker.sh).
set -euo pipefail

if [ $# -lt 1 ]; then
  echo "usage: $0 REGISTRY [IMAGE[=NAME]...]" >&2
  exit 2
fi
registry=$1
shift
command -v skopeo >/dev/null || { echo "skopeo is not installed; run scripts/install-docker.sh" >&2; exit 1; }
docker info >/dev/null 2>&1 || { echo "the Docker engine does not answer; run scripts/start-dockerd.sh" >&2; exit 1; }

work=$(mktemp -d /tmp/minik8s-push.XXXXXX)
trap 'rm -rf "$work"' EXIT
auth=(--dest-tls-verify=false)
check=(--tls-verify=false)
copy_auth=(--src-tls-verify=false --dest-tls-verify=false)
if [ -n "${REGISTRY_USER:-}" ]; then
  umask 077
  printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$registry" \
    "$(printf '%s:%s' "$REGISTRY_USER" "${REGISTRY_PASSWORD:-}" | base64 -w0)" >"$work/auth.json"
  auth+=(--dest-authfile "$work/auth.json")
  check+=(--authfile "$work/auth.json")
  copy_auth+=(--src-authfile "$work/auth.json" --dest-authfile "$work/auth.json")
fi

# Docker Hub's name for an image: one path component gets library/.
hub_name() {
  case "$1" in
    */*) echo "$1" ;;
    *) echo "library/$1" ;;
  esac
}

if [ $# -eq 0 ]; then
  mapfile -t images < <(docker images --format '{{.Repository}}:{{.Tag}}' \
    | grep -E '^(minik8s/[^:]+|busybox|nginx|python):' | sort)
  if [ ${#images[@]} -eq 0 ]; then
    echo "no local images to push; run scripts/build-images.sh" >&2
    exit 1
  fi
else
  images=("$@")
fi

declare -A pushed  # image id -> the first name it was pushed under in this run
for spec in "${images[@]}"; do
  image=${spec%%=*}
  name=$(hub_name "$image")
  [ "$spec" != "$image" ] && name=${spec#*=}
  id=$(docker image inspect -f '{{.Id}}' "$image")
  there=$(skopeo inspect "${check[@]}" --raw --config "docker://$registry/$name" 2>/dev/null | sha256sum | cut -c1-64 || true)
  if [ "sha256:$there" = "$id" ]; then
    echo "$registry/$name is up to date"
  elif [ -n "${pushed[$id]:-}" ]; then
    skopeo copy -q "${copy_auth[@]}" "docker://$registry/${pushed[$id]}" "docker://$registry/$name"
    echo "pushed $registry/$name (same image as ${pushed[$id]})"
  else
    skopeo copy -q "${auth[@]}" "docker-daemon:$image" "docker://$registry/$name"
    echo "pushed $image to $registry/$name"
  fi
  pushed[$id]=${pushed[$id]:-$name}
done
