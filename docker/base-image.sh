#!/usr/bin/env bash
# Make the base image locally when no registry is reachable: a minimal Debian bookworm with its
# Python 3.11 (what python:3.11-slim-bookworm provides), imported into podman's storage.
#   docker/base-image.sh [TAG]     default TAG: localhost/tandem-base:bookworm
# Idempotent: does nothing when the image exists. Needs root, debootstrap and a Debian mirror.
set -euo pipefail

tag="${1:-localhost/tandem-base:bookworm}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if podman image exists "$tag"; then
  echo "[base-image] $tag exists"
  exit 0
fi
rootfs="$(mktemp -d)"
trap 'rm -rf "$rootfs"' EXIT
echo "[base-image] debootstrap bookworm into a temporary folder (about a minute)"
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
  bookworm "$rootfs" "$mirror" >/dev/null
# No package lists, caches or docs in the image.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/usr/share/doc/* \
  "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
tar -C "$rootfs" -c . | podman import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  - "$tag" >/dev/null
echo "[base-image] made $tag"
