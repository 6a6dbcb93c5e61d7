"""What the provisioner does to each stream and bucket: bring it to its declared config,
in place (the job that runs it: `vigil.provision`; `Bus(provisions=True)` calls this).

A stream that exists is updated: JetStream changes its limits and its replica count
without losing a message (new replicas catch up from the leader). One that does not
exist is created, with one exception: a NATS cluster whose first node ran alone
before (compose's single-node stack switched to `compose.nats-cluster.yaml`). That node
still holds its streams and buckets, but the cluster's meta layer does not know them,
and nats-server deletes such orphans about 30 s after the node joined. Creating them
anew would make empty streams beside them (the R3 leader with 0 messages while the old
node holds them all). So, given the seed tag (the server tag of that node:
`VIGIL_STREAM_SEED_TAG`), a stream the cluster does not know is created first with one
replica on that node, which adopts its own copy, messages and all; once every stream is
there, each is brought to the declared replicas, scaled up in place.
"""

from collections.abc import Sequence
from dataclasses import replace

from nats.js import JetStreamContext
from nats.js.api import Placement, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError, ServiceUnavailableError

_NO_SUITABLE_PEERS = 10005  # JSClusterNoPeersErr: no server matches the placement


async def provision(
    js: JetStreamContext, configs: Sequence[StreamConfig], seed_tag: str | None = None
) -> None:
    """Every stream of `configs` there (adopted on the seed's node when it holds one)
    before any is changed: the seed's copies are deleted ~30 s after it joined."""
    missing = []
    for config in configs:
        assert config.name is not None
        try:
            await js.stream_info(config.name)
        except NotFoundError:
            missing.append(config)
    for config in missing:
        if seed_tag is None:
            await js.add_stream(config)
            continue
        try:
            await js.add_stream(seeded(config, seed_tag))
        except BadRequestError as exc:
            if exc.err_code != _NO_SUITABLE_PEERS:
                raise
            # the seed node has not joined yet: JetStream cannot act yet, so ask again
            raise ServiceUnavailableError(
                code=503, description=f"no node tagged {seed_tag!r} in the cluster yet"
            ) from exc
    for config in configs:
        await js.update_stream(config)  # idempotent: what differs is brought to `config`


def seeded(config: StreamConfig, seed_tag: str) -> StreamConfig:
    """`config` with one replica, on the node tagged `seed_tag` (the old single node)."""
    return replace(config, num_replicas=1, placement=Placement(tags=[seed_tag]))
