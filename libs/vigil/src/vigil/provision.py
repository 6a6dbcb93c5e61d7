"""Making every stream and bucket Vigil keeps: the one job that may create or change one.

No service may: a stream's config can source any other stream, so the right to make
one is the right to read all of them (the signing keys among them). `vigil up` runs
this once NATS is up (and whenever it restarts); compose runs it as its `setup` job
(`python -m vigil.provision`, with the provisioner's creds), before any service starts.
It is idempotent, and brings existing streams to the declared config (the replica count
among it: `VIGIL_STREAM_REPLICAS`).
"""

import asyncio
import logging
import sys

from pydantic import ValidationError

from vigil.bus import Bus
from vigil.busauth.permissions import ServiceRole
from vigil.errors import BusUnavailable
from vigil.settings import VigilSettings
from vigil.streams import BUCKETS, STREAMS

log = logging.getLogger(__name__)

_ATTEMPTS = 30  # a cluster may still be electing leaders: about a minute in all
_WAIT_S = 2.0


async def provision(
    settings: VigilSettings, *, credentials: str | None = None, keep_trying: bool = False
) -> None:
    """Create (or bring to their config) every stream and bucket under `settings`'
    prefix, as the provisioner (`credentials`: its creds' text, else the settings' file)."""
    bus = Bus(
        settings,
        name="vigil-provision",
        role=ServiceRole.PROVISIONER,
        streams=STREAMS,
        buckets=BUCKETS,
        provisions=True,
        credentials=credentials,
    )
    await bus.connect(keep_trying=keep_trying)
    await bus.close()
    log.info("provisioned %d streams and %d buckets", len(STREAMS), len(BUCKETS))


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = VigilSettings()
    except ValidationError as exc:
        print(f"vigil.provision: invalid settings: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_provision_patiently(settings))


async def _provision_patiently(settings: VigilSettings) -> int:
    """The setup job's run: tried again while NATS or JetStream is not ready, for a while."""
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            await provision(settings)
        except BusUnavailable as exc:
            log.warning("attempt %d of %d: %s", attempt, _ATTEMPTS, exc)
            await asyncio.sleep(_WAIT_S)
        else:
            return 0
    print("vigil.provision: gave up; is NATS up, and are these the provisioner's creds?")
    return 1


if __name__ == "__main__":
    sys.exit(main())
