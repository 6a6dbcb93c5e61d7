"""A subscription's `history_s`: the channel's last seconds from the history service,
sent as one `history` frame ahead of the snapshot and the live updates.

A host's metrics (`host.metrics` with `host`) and a host's containers (`docker.stats`
with `host`) have a history; asked of another channel, the option is refused as a
misfit. The frame's `data.newest` is the newest sample it holds: a live update of that
time or older is in it already, so a client that drops those shows every sample once,
and the first live value follows the history with no gap (a state channel's snapshot is
the newest sample: one published while the history was read is not lost, it is there).
"""

from datetime import timedelta

from vigil import ctl
from vigil.bus import Bus
from vigil.channels import ChannelRef
from vigil.errors import BusUnavailable
from vigil.messages import ErrorCode, HistoryFirst, HistoryKind, QueryHistory, utc_now
from vigil.operations import History
from vigil_gateway.errors import ChannelRefused

QUERY_TIMEOUT_S = 5.0  # the socket's next messages wait for it

_KINDS = {"host.metrics": HistoryKind.HOST, "docker.stats": HistoryKind.CONTAINERS}


def misfit(channel: ChannelRef) -> str | None:
    """Why `channel` has no history to send first, if it has none."""
    if channel.spec.name not in _KINDS:
        kept = " and ".join(f"{name} (with host)" for name in _KINDS)
        return f"history_s is for {kept}; {channel.key} keeps no history"
    if "host" not in dict(channel.params):
        return f"history_s needs one host: {channel.spec.name} with host=..."
    return None


async def frame(bus: Bus, channel: ChannelRef, seconds: int) -> str:
    """The `history` frame of `channel`'s last `seconds`; `ChannelRefused` with the
    history service's refusal, or UNAVAILABLE without it."""
    query = QueryHistory(
        kind=_KINDS[channel.spec.name],
        host=dict(channel.params)["host"],
        start=utc_now() - timedelta(seconds=seconds),
    )
    try:
        series = await ctl.call(bus, History.QUERY, query, timeout_s=QUERY_TIMEOUT_S)
    except ctl.Refused as exc:
        raise ChannelRefused(exc.code, f"no history first: {exc.message}") from None
    except (BusUnavailable, RuntimeError):
        reason = "no history first: the history service is unavailable; live values follow"
        raise ChannelRefused(ErrorCode.UNAVAILABLE, reason) from None
    return HistoryFirst(channel=channel.key, data=series).model_dump_json(exclude_none=True)
