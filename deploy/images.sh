#!/usr/bin/env bash
# `make images`: the wheelhouse, then every image compose.yaml names, tagged as it names them
# (${VIGIL_IMAGE_PREFIX:-vigil}/<name>:${VIGIL_TAG:-latest}). Base images: VIGIL_PYTHON_IMAGE and
# VIGIL_DEBIAN_IMAGE when set; else, with VIGIL_LOCAL_BASE=1 (no registry reachable, as in
# the tests), the local ones tests/testbed/images makes with debootstrap + docker import
# (kept in dockerd, so made once per machine); else python:3.11-slim and
# debian:bookworm-slim from Docker Hub.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${VIGIL_PYTHON_IMAGE:-}" ] && [ "${VIGIL_LOCAL_BASE:-0}" = 1 ]; then
    tests/testbed/images/base-image.sh >/dev/null
    VIGIL_PYTHON_IMAGE=local/testbed-python:bookworm
    VIGIL_DEBIAN_IMAGE=${VIGIL_DEBIAN_IMAGE:-local/testbed-debian:bookworm}
fi
PYTHON_IMAGE=${VIGIL_PYTHON_IMAGE:-python:3.11-slim}
DEBIAN_IMAGE=${VIGIL_DEBIAN_IMAGE:-debian:bookworm-slim}
deploy/wheelhouse.sh
[ -f web/dist/index.html ] || make web  # the gateway image serves the dashboard

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
