#!/usr/bin/env bash
# `make images`: the wheelhouse, then every image compose.yaml names, tagged as it names them
# (${VIGIL_IMAGE_PREFIX:-vigil}/<name>:${VIGIL_TAG:-latest}); `deploy/images.sh NAME...` builds
# only those (e.g. docker-proxy), and the wheelhouse only when one of them is a Python image.
# Base images: VIGIL_PYTHON_IMAGE and VIGIL_DEBIAN_IMAGE when set; else, with
# VIGIL_LOCAL_BASE=1 (no registry reachable, as in the tests), the local ones
# tests/testbed/images makes with debootstrap + docker import (kept in dockerd, so made once
# per machine); else python:3.11-slim and debian:bookworm-slim from Docker Hub.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${VIGIL_PYTHON_IMAGE:-}" ] && [ "${VIGIL_LOCAL_BASE:-0}" = 1 ]; then
    tests/testbed/images/base-image.sh >/dev/null
    VIGIL_PYTHON_IMAGE=local/testbed-python:bookworm
    VIGIL_DEBIAN_IMAGE=${VIGIL_DEBIAN_IMAGE:-local/testbed-debian:bookworm}
fi
PYTHON_IMAGE=${VIGIL_PYTHON_IMAGE:-python:3.11-slim}
DEBIAN_IMAGE=${VIGIL_DEBIAN_IMAGE:-debian:bookworm-slim}
PYTHON_IMAGES=(collector auth deployer notifier history alerter gateway nats)
DEBIAN_IMAGES=(nginx docker-proxy prometheus)
WANTED=("$@")
[ ${#WANTED[@]} -gt 0 ] || WANTED=("${PYTHON_IMAGES[@]}" "${DEBIAN_IMAGES[@]}")
wanted() { [[ " ${WANTED[*]} " == *" $1 "* ]]; }
for name in "${WANTED[@]}"; do
    [[ " ${PYTHON_IMAGES[*]} ${DEBIAN_IMAGES[*]} " == *" $name "* ]] || { echo "no image $name" >&2; exit 2; }
done
for name in "${PYTHON_IMAGES[@]}"; do
    if wanted "$name"; then
        deploy/wheelhouse.sh
        [ -f web/dist/index.html ] || make web  # the gateway image serves the dashboard
        break
    fi
done

build() {  # name base dockerfile [docker build options]
    local tag=${VIGIL_IMAGE_PREFIX:-vigil}/$1:${VIGIL_TAG:-latest} start=$SECONDS
    docker build -q --build-arg "BASE_IMAGE=$2" -f "$3" -t "$tag" "${@:4}" . >/dev/null
    echo "$tag ($((SECONDS - start)) s)"
}
# Python images install from the wheelhouse only: no network proves it.
for service in collector auth deployer notifier history alerter gateway; do
    if wanted "$service"; then
        build "$service" "$PYTHON_IMAGE" services/Dockerfile --network none \
            --build-arg "SERVICE=$service"
    fi
done
if wanted nats; then
    build nats "$PYTHON_IMAGE" deploy/nats/Dockerfile --network none
fi
# Debian's packages, with apt-get from Debian's mirror.
for name in "${DEBIAN_IMAGES[@]}"; do
    if wanted "$name"; then
        build "$name" "$DEBIAN_IMAGE" "deploy/$name/Dockerfile"
    fi
done
