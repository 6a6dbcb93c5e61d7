"""What a subscriber asks of a channel beside its name: where to resume, a pace, deltas,
its history first.

The same options come from a `subscribe` message on `/ws` and from the query of a seed
endpoint or an SSE twin (`?since=`, `?interval_s=`, `?delta=1`, `?history_s=`).
"""

from dataclasses import dataclass

from vigil.channels import ChannelKind, ChannelRef
from vigil_gateway.delivery import history_first


@dataclass(frozen=True)
class Options:
    since: int | None = None
    """Stream and journal channels: resume after this cursor."""
    interval_s: float | None = None
    """State channels: at most one update per this many seconds, the newest."""
    delta: bool = False
    """State channels: a snapshot, then only what changed."""
    history_s: int | None = None
    """Metrics of one host: its last this many seconds first (`history_first`)."""

    def misfit(self, channel: ChannelRef) -> str | None:
        """Why these options do not fit the channel, if they do not."""
        kind = channel.spec.kind
        if self.interval_s is not None and kind in (ChannelKind.STREAM, ChannelKind.JOURNAL):
            return (
                f"interval_s paces state channels; {channel.key} is a {kind} channel, "
                "whose messages are never coalesced"
            )
        if self.delta and kind is not ChannelKind.STATE:
            return f"deltas are for state channels; {channel.key} is a {kind} channel"
        if self.history_s is not None:
            return history_first.misfit(channel)
        return None


NO_OPTIONS = Options()
