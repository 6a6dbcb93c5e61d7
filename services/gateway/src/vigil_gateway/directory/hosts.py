"""Whether the host a host's channel names has ever reported, so that `host=nohost` is
`NOT_FOUND` (as an unknown container is) rather than a subscription that stays silent
forever: the hub's watcher of the channels that take a `host` (as `existence` is of
`deploy`).

A host exists once a collector has published for it (its metrics, its containers' stats,
or whether its Docker engine answers): JetStream keeps the newest of each in `LATEST`, so
the gateway looks there, with no service to ask. When JetStream cannot answer the
subscription goes ahead: the channel itself says nothing false.
"""

import nats.errors
from nats.js.errors import NotFoundError

from vigil.bus import Bus
from vigil.channels import ChannelRef
from vigil.messages import ErrorCode
from vigil.streams import LATEST
from vigil_gateway.access.permissions import SeesCluster
from vigil_gateway.errors import ChannelRefused

CHANNELS = ("host.metrics", "docker.stats", "docker.status")


class HostExistence:
    """The watcher of `CHANNELS`: admits only hosts some collector has reported."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus

    async def admit(self, channel: ChannelRef, sees_cluster: SeesCluster) -> ChannelRef:
        host = dict(channel.params).get("host")
        if host is None:
            return channel
        subjects = self._bus.subjects
        stream = LATEST.stream(subjects)
        reported = (
            subjects.host_metrics(host),
            subjects.docker_metrics(host),
            subjects.docker_source(host),
        )
        for subject in reported:
            try:
                await self._bus.js.get_last_msg(stream, subject)
            except NotFoundError:
                continue
            except (nats.errors.Error, TimeoutError, RuntimeError):
                return channel
            return channel
        raise ChannelRefused(ErrorCode.NOT_FOUND, f"no host {host!r}: no collector has reported it")

    def started(self, channel: ChannelRef) -> None:
        """Nothing to hold while a host is watched."""

    def stopped(self, channel: ChannelRef) -> None:
        """Nothing to release."""

    def polled(self, channel: ChannelRef) -> None:
        """Nothing to ask for."""
