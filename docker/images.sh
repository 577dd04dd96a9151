#!/usr/bin/env bash
# Build Tandem's images with podman (no Docker engine needed) and print each one's size.
#   docker/images.sh [SERVICE...]     default: every folder under services/ (the sandbox included)
# Environment: TANDEM_IMAGE_TAG (default: dev), TANDEM_IMAGE_REPOSITORY (default: localhost/tandem),
# BASE_IMAGE (default: a Debian bookworm base made locally by docker/base-image.sh, since no
# registry is reachable here; set it to docker.io/library/python:3.11-slim-bookworm where one is).
set -euo pipefail
cd "$(dirname "$0")/.."
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/docker/containers.conf}"

tag="${TANDEM_IMAGE_TAG:-dev}"
repository="${TANDEM_IMAGE_REPOSITORY:-localhost/tandem}"
base="${BASE_IMAGE:-localhost/tandem-base:bookworm}"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -n 1)"
revision="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"

if [ "$base" = "localhost/tandem-base:bookworm" ]; then docker/base-image.sh "$base"; fi

# A TLS-intercepting proxy's CA bundle reaches pip and uv as a build secret, never a layer.
secret=()
for bundle in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt; do
  if [ -s "$bundle" ]; then secret=(--secret "id=ca_bundle,src=$bundle"); break; fi
done

services=("$@")
if [ "${#services[@]}" -eq 0 ]; then
  for dir in services/*/; do services+=("$(basename "$dir")"); done
fi

for service in "${services[@]}"; do
  modules=(services/"$service"/src/*/__main__.py)
  [ -f "${modules[0]}" ] || { echo "[images] services/$service has no runnable module" >&2; exit 2; }
  module="$(basename "$(dirname "${modules[0]}")")"
  default_command=api
  [ "$service" = sandbox ] && default_command=serve
  image="$repository/$service:$tag"
  echo "[images] building $image (python -m $module)"
  log="$(mktemp)"
  if ! podman build --network host --format docker -f docker/Dockerfile \
    --build-arg BASE_IMAGE="$base" --build-arg SERVICE="$service" --build-arg MODULE="$module" \
    --build-arg DEFAULT_COMMAND="$default_command" --build-arg VERSION="$version" \
    --build-arg REVISION="$revision" \
    "${secret[@]}" -t "$image" . >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    rm -f "$log"
    echo "[images] building $image failed" >&2
    exit 1
  fi
  rm -f "$log"
done

echo "[images] sizes"
for service in "${services[@]}"; do
  podman image inspect --format '{{.Size}}' "$repository/$service:$tag" \
    | awk -v name="$repository/$service:$tag" '{printf "  %-44s %6.1f MB\n", name, $1 / 1e6}'
done
