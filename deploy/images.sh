#!/usr/bin/env bash
# `make images`: the wheelhouse, then every image compose.yaml names, tagged as it names them
# (${VIGIL_IMAGE_PREFIX:-vigil}/<name>:${VIGIL_TAG:-latest}). Base images: VIGIL_PYTHON_IMAGE and
# VIGIL_DEBIAN_IMAGE when set; else, where the testbed kit is (../shared/testbeds), the local
# ones it makes with debootstrap + docker import (no registry needed; kept in dockerd, so made
# once per machine); else python:3.11-slim and debian:bookworm-slim from Docker Hub.
set -euo pipefail
cd "$(dirname "$0")/.."
KIT=${VIGIL_TESTBED_KIT:-../shared/testbeds}
if [ -z "${VIGIL_PYTHON_IMAGE:-}" ] && [ -x "$KIT/images/base-image.sh" ]; then
    "$KIT/images/base-image.sh" >/dev/null
    VIGIL_PYTHON_IMAGE=local/testbed-python:bookworm
    VIGIL_DEBIAN_IMAGE=${VIGIL_DEBIAN_IMAGE:-local/testbed-debian:bookworm}
fi
PYTHON_IMAGE=${VIGIL_PYTHON_IMAGE:-python:3.11-slim}
DEBIAN_IMAGE=${VIGIL_DEBIAN_IMAGE:-debian:bookworm-slim}
deploy/wheelhouse.sh

build() {  # name base dockerfile [docker build options]
    local tag=${VIGIL_IMAGE_PREFIX:-vigil}/$1:${VIGIL_TAG:-latest} start=$SECONDS
    docker build -q --build-arg "BASE_IMAGE=$2" -f "$3" -t "$tag" "${@:4}" . >/dev/null
    echo "$tag ($((SECONDS - start)) s)"
}
# Python images install from the wheelhouse only: no network proves it.
for service in collector auth deployer gateway; do
    build "$service" "$PYTHON_IMAGE" "services/$service/Dockerfile" --network none
done
build nats "$PYTHON_IMAGE" deploy/nats/Dockerfile --network none
build nginx "$DEBIAN_IMAGE" deploy/nginx/Dockerfile  # apt-get from Debian's mirror
build prometheus "$DEBIAN_IMAGE" deploy/prometheus/Dockerfile
