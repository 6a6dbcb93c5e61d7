#!/bin/sh
# nats-server, with this node's JetStream placement tags from VIGIL_NATS_SERVER_TAGS
# (comma-separated; compose.nats-cluster.yaml tags the node that ran alone before, whose
# streams the provisioner adopts there). nats-server reads tags only from a config file,
# so a config of this node's own includes the one given with --config and adds them.
set -eu
[ -n "${VIGIL_NATS_SERVER_TAGS:-}" ] || exec nats-server "$@"
config='' previous=''
for arg in "$@"; do
    case $previous in --config | -config | -c) config=$arg ;; esac
    case $arg in --config=* | -config=* | -c=*) config=${arg#*=} ;; esac
    previous=$arg
done
if [ -z "$config" ]; then
    echo "VIGIL_NATS_SERVER_TAGS needs a --config to add them to" >&2
    exit 2
fi
node=$(mktemp -d)
ln -s "$config" "$node/shared.conf"  # an include is relative to the including file
tags=$(printf '%s' "$VIGIL_NATS_SERVER_TAGS" | sed 's/[^,][^,]*/"&"/g')
printf 'include "shared.conf"\nserver_tags: [%s]\n' "$tags" >"$node/node.conf"
exec nats-server "$@" --config "$node/node.conf"  # the last --config is the one read
